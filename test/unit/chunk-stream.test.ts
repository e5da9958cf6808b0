import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { chunkStream } from "../../shared/store/azure-blob/chunk-stream.js";

async function* from(pieces: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const piece of pieces) yield piece;
}

async function collect(source: AsyncIterable<Uint8Array>, blockBytes: number): Promise<Buffer[]> {
  const blocks: Buffer[] = [];
  for await (const block of chunkStream(source, blockBytes)) blocks.push(Buffer.from(block));
  return blocks;
}

const sizes = (blocks: Buffer[]) => blocks.map((block) => block.length);

describe("regrouping a byte stream into blocks", () => {
  it("regroups small pieces into exact block sizes, the last block shorter", async () => {
    const data = randomBytes(25);
    const pieces = [data.subarray(0, 3), data.subarray(3, 4), data.subarray(4, 13), data.subarray(13, 25)];
    const blocks = await collect(from(pieces), 10);
    expect(sizes(blocks)).toEqual([10, 10, 5]);
    expect(Buffer.concat(blocks).equals(data)).toBe(true);
  });

  it("splits a piece larger than a block into several blocks", async () => {
    const data = randomBytes(35);
    const blocks = await collect(from([data]), 10);
    expect(sizes(blocks)).toEqual([10, 10, 10, 5]);
    expect(Buffer.concat(blocks).equals(data)).toBe(true);
  });

  it("ends without a short block when the input is a whole number of blocks", async () => {
    const data = randomBytes(30);
    const blocks = await collect(from([data.subarray(0, 7), data.subarray(7)]), 10);
    expect(sizes(blocks)).toEqual([10, 10, 10]);
    expect(Buffer.concat(blocks).equals(data)).toBe(true);
  });

  it("yields a final block of a single byte", async () => {
    const data = randomBytes(9);
    const blocks = await collect(from([data]), 4);
    expect(sizes(blocks)).toEqual([4, 4, 1]);
    expect(Buffer.concat(blocks).equals(data)).toBe(true);
  });

  it("yields nothing for empty input", async () => {
    expect(await collect(from([]), 10)).toEqual([]);
  });

  it("yields nothing for input of only empty pieces", async () => {
    expect(await collect(from([new Uint8Array(0), new Uint8Array(0)]), 10)).toEqual([]);
  });

  it("skips empty pieces in the middle of the stream", async () => {
    const data = randomBytes(12);
    const blocks = await collect(from([data.subarray(0, 5), new Uint8Array(0), data.subarray(5)]), 4);
    expect(sizes(blocks)).toEqual([4, 4, 4]);
    expect(Buffer.concat(blocks).equals(data)).toBe(true);
  });

  it("respects the offset of a piece that is a view into a larger buffer", async () => {
    const backing = Buffer.from("XXXXhello worldYYYY");
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 4, 11);
    const blocks = await collect(from([view]), 4);
    expect(blocks.map(String)).toEqual(["hell", "o wo", "rld"]);
  });

  it("keeps its bytes when the source reuses its buffer for the next piece", async () => {
    const shared = new Uint8Array(3);
    async function* reusing(): AsyncGenerator<Uint8Array> {
      for (const value of [1, 2, 3, 4]) {
        shared.fill(value);
        yield shared;
      }
    }
    const blocks = await collect(reusing(), 5);
    expect(blocks.map((block) => [...block])).toEqual([
      [1, 1, 1, 2, 2],
      [2, 3, 3, 3, 4],
      [4, 4],
    ]);
  });

  it("preserves every byte of a large stream cut at random points", async () => {
    const data = randomBytes(100_000);
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < data.length; ) {
      const length = Math.min(1 + Math.floor(Math.random() * 9000), data.length - at);
      pieces.push(data.subarray(at, at + length));
      at += length;
    }
    const blocks = await collect(from(pieces), 4096);
    expect(blocks.slice(0, -1).every((block) => block.length === 4096)).toBe(true);
    expect(blocks.at(-1)!.length).toBe(100_000 % 4096);
    expect(Buffer.concat(blocks).equals(data)).toBe(true);
  });
});
