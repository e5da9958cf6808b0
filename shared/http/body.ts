/** Reading a whole request body, bounded: for JSON, forms and manifests, never for blobs. */

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
