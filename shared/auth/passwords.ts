/**
 * Passwords and their stored verifiers; a password itself is never stored.
 *
 * - Token passwords are generated here with 256 bits of randomness and shown once. They are
 *   stored as a salted SHA-256 ("sha256$salt$hash", base64). A slow key derivation exists to
 *   make guessing a human's password from a stolen hash expensive; guessing 256 random bits is
 *   out of reach at any hash speed (NIST SP 800-63B allows an approved salted hash for secrets
 *   of 112 bits or more). A slow hash would only cost every first login ~50 ms of CPU, and
 *   let a flood of wrong passwords burn a core.
 * - A key a person may have chosen (the admin key, ADMIN_KEY_HASH) is stored as a salted
 *   scrypt hash ("scrypt$N$r$p$salt$hash", base64), and so are token passwords stored
 *   before the fast form existed: both keep verifying. scrypt runs on libuv's thread pool
 *   here, so verifying does not stall the event loop; the token checks on the data plane go
 *   through password-check-pool.ts instead, which keeps them off that pool.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

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

/** Length of generatePassword's result: 32 bytes in base64url, no padding. */
const GENERATED_LENGTH = 43;

/**
 * The stored form of a password generatePassword made. Throws for anything shorter: a
 * password that may be low in entropy must go through hashPassword (scrypt).
 */
export function hashGeneratedPassword(password: string): string {
  if (password.length < GENERATED_LENGTH) throw new Error("only a generated password (256 random bits) may be stored as a fast hash");
  const salt = randomBytes(16);
  return `sha256$${salt.toString("base64")}$${saltedSha256(salt, password).toString("base64")}`;
}

function saltedSha256(salt: Buffer, password: string): Buffer {
  return createHash("sha256").update(salt).update(password, "utf8").digest();
}

/** Whether `stored` is the fast form (hashGeneratedPassword), which needs no scrypt to check. */
export function isFastHash(stored: string): boolean {
  return stored.startsWith("sha256$");
}

/** Constant-time check against the fast form; false for a malformed one. */
export function verifyFastHash(password: string, stored: string): boolean {
  const parts = stored.split("$");
  if (parts.length !== 3 || parts[0] !== "sha256") return false;
  const salt = Buffer.from(parts[1]!, "base64");
  const expected = Buffer.from(parts[2]!, "base64");
  if (salt.length === 0 || expected.length !== 32) return false;
  return timingSafeEqual(saltedSha256(salt, password), expected);
}

/** The scrypt form, for a key a person may have chosen (the admin key). */
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

/** Checks either stored form; constant-time comparison; false for any malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (isFastHash(stored)) return verifyFastHash(password, stored);
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
