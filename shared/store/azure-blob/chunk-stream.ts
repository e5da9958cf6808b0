/** Regroups a byte stream into blocks of a fixed size (the last may be shorter). */
export async function* chunkStream(source: AsyncIterable<Uint8Array>, blockBytes: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of source) {
    let chunk = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (pendingBytes + chunk.length >= blockBytes) {
      const take = blockBytes - pendingBytes;
      pending.push(chunk.subarray(0, take));
      yield Buffer.concat(pending, blockBytes);
      chunk = chunk.subarray(take);
      pending = [];
      pendingBytes = 0;
    }
    if (chunk.length > 0) {
      // Copy: the source may reuse its buffer once we ask for the next piece.
      pending.push(Buffer.from(chunk));
      pendingBytes += chunk.length;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
}
