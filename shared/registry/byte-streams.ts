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

export const emptyStream: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {},
};
