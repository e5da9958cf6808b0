/**
 * Token passwords: generated with 256 bits of randomness, shown once, stored only as a
 * salted scrypt hash ("scrypt$N$r$p$salt$hash", base64). scrypt runs on libuv's thread
 * pool here, so verifying a password does not stall the event loop; the token checks on the
 * data plane go through password-check-pool.ts instead, which keeps them off that pool.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

const N = 16384;
const r = 8;
const p = 1;
const KEY_BYTES = 32;

/** A stored hash taken apart: what scrypt needs to derive the key again, and the key to compare. */
export interface ScryptVerifier {
  salt: Buffer;
  expected: Buffer;
  options: Required<Pick<ScryptOptions, "N" | "r" | "p" | "maxmem">>;
}

function deriveKey(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export function generatePassword(): string {
  // One in 64 base64url strings starts with "-", which command lines (docker login -p, our
  // CLI's --password) read as an option; such a draw is made again (256 random bits either way).
  for (;;) {
    const password = randomBytes(32).toString("base64url");
    if (!password.startsWith("-")) return password;
  }
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await deriveKey(password, salt, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** undefined for any malformed hash (it then matches no password). */
export function parseScryptHash(stored: string): ScryptVerifier | undefined {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return undefined;
  const [cost, blockSize, parallelism] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4]!, "base64");
  const expected = Buffer.from(parts[5]!, "base64");
  if (!cost || !blockSize || !parallelism || expected.length !== KEY_BYTES) return undefined;
  return { salt, expected, options: { N: cost, r: blockSize, p: parallelism, maxmem: 256 * cost * blockSize } };
}

/** Constant-time comparison of a derived key with the stored one. */
export function sameKey(actual: Buffer, verifier: ScryptVerifier): boolean {
  return actual.length === verifier.expected.length && timingSafeEqual(actual, verifier.expected);
}

/** Constant-time comparison of the derived key; false for any malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const verifier = parseScryptHash(stored);
  if (!verifier) return false;
  let actual: Buffer;
  try {
    actual = await deriveKey(password, verifier.salt, verifier.options);
  } catch {
    // Parameters scrypt refuses (a cost that is no power of two, out of range, too much memory).
    return false;
  }
  return sameKey(actual, verifier);
}

export const SCRYPT_KEY_BYTES = KEY_BYTES;
