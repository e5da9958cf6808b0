/**
 * Token passwords: generated with 256 bits of randomness, shown once, stored only as a
 * salted scrypt hash ("scrypt$N$r$p$salt$hash", base64). scrypt runs on libuv's thread
 * pool, so verifying a password does not stall the event loop.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

const N = 16384;
const r = 8;
const p = 1;
const KEY_BYTES = 32;

function deriveKey(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export function generatePassword(): string {
  return randomBytes(32).toString("base64url");
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await deriveKey(password, salt, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** Constant-time comparison of the derived key; false for any malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [cost, blockSize, parallelism] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4]!, "base64");
  const expected = Buffer.from(parts[5]!, "base64");
  if (!cost || !blockSize || !parallelism || expected.length !== KEY_BYTES) return false;
  let actual: Buffer;
  try {
    actual = await deriveKey(password, salt, { N: cost, r: blockSize, p: parallelism, maxmem: 256 * cost * blockSize });
  } catch {
    // Parameters scrypt refuses (a cost that is no power of two, out of range, too much memory).
    return false;
  }
  return timingSafeEqual(actual, expected);
}
