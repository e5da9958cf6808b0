/** Helpers over request and storage byte streams. */
import { createHash, type Hash } from "node:crypto";
import type { DigestAlgorithm } from "../domain/digest.js";

/** Passes the bytes through, feeding each to `hash` and counting them. */
export async function* hashing(source: AsyncIterable<Uint8Array>, hash: Hash | undefined, counter: { bytes: number }): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    hash?.update(chunk);
    counter.bytes += chunk.byteLength;
    yield chunk;
  }
}

export async function digestOf(source: AsyncIterable<Uint8Array>, algorithm: DigestAlgorithm): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of source) hash.update(chunk);
  return `${algorithm}:${hash.digest("hex")}`;
}

export class BodyTooLargeError extends Error {}

/** Reads a whole body into memory, refusing more than `limit` bytes. */
export async function readBody(source: AsyncIterable<Uint8Array> | null, limit: number): Promise<Uint8Array> {
  if (!source) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of source) {
    total += chunk.byteLength;
    if (total > limit) throw new BodyTooLargeError(`body exceeds ${limit} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts, total);
}

export const emptyStream: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {},
};
