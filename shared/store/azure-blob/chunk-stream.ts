/**
 * Regroups a byte stream into blocks of a fixed size (the last may be shorter). Each
 * byte is copied once, into the block it belongs to.
 */
export async function* chunkStream(source: AsyncIterable<Uint8Array>, blockBytes: number): AsyncGenerator<Buffer> {
  if (!(blockBytes > 0)) throw new RangeError(`block size must be positive, got ${blockBytes}`);
  let block: Buffer | undefined;
  let filled = 0;
  for await (const piece of source) {
    let offset = 0;
    while (offset < piece.byteLength) {
      block ??= Buffer.allocUnsafe(blockBytes);
      const take = Math.min(blockBytes - filled, piece.byteLength - offset);
      block.set(piece.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === blockBytes) {
        yield block;
        block = undefined;
        filled = 0;
      }
    }
  }
  if (block && filled > 0) {
    // A short last block gets a buffer of its own size, so the large one is not held.
    yield Buffer.from(block.subarray(0, filled));
  }
}
