/**
 * A response body that is (a range of) a local file, as the edge's content store serves blobs.
 *
 * Iterated, it yields a fresh buffer per read, like any file stream: safe for every consumer
 * (a hash, an upload that queues chunks). The local host does not iterate it: it calls
 * `writeTo`, which reads into two buffers it reuses, each only after the socket has taken
 * the previous bytes. Why: a fresh 1 MiB buffer per read is 100 MiB of memory outside V8's
 * heap per 100 MiB blob, and V8 answers that "external memory pressure" with a full
 * mark-compact every few tens of milliseconds (seen with --trace-gc: ~150 of them over 60
 * pulls), which made about half the pulls take twice as long as the fastest.
 */
import type { FileHandle } from "node:fs/promises";
import type { Writable } from "node:stream";

/**
 * Bytes per read (and per socket write). Two buffers of 512 KiB fit a core's L2 cache (1 MiB
 * here) with the kernel's copies in and out of them: a 100 MiB GET by curl on loopback took a
 * median 32 ms with 512 KiB against 37 ms with 1 MiB (40 interleaved GETs each), 256 KiB 37 ms.
 */
const CHUNK_BYTES = 512 * 1024;

export class FileBody implements AsyncIterable<Uint8Array> {
  private used = false;
  /** Bytes `writeTo` has handed to the destination so far (for a message when it fails). */
  bytesWritten = 0;

  /** `range`: inclusive byte offsets; the whole file without. The body owns `handle` and closes it. */
  constructor(
    private readonly handle: FileHandle,
    private readonly range?: { start: number; end: number },
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    this.claim();
    const stream = this.handle.createReadStream({ highWaterMark: CHUNK_BYTES, ...(this.range ?? {}) });
    return stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  }

  /**
   * Writes the bytes to `destination` (not ending it) and returns how many were written.
   * Rejects when `signal` aborts (the client went away) or a write fails; the file is closed
   * either way.
   */
  async writeTo(destination: Writable, signal?: AbortSignal): Promise<number> {
    this.claim();
    const buffers = [Buffer.allocUnsafeSlow(CHUNK_BYTES), Buffer.allocUnsafeSlow(CHUNK_BYTES)];
    // The write that still holds each buffer: it is read into again only once that is done.
    const holding: Array<Promise<void> | undefined> = [undefined, undefined];
    let position = this.range?.start ?? 0;
    const end = this.range ? this.range.end + 1 : Number.POSITIVE_INFINITY;
    try {
      for (let turn = 0; position < end; turn ^= 1) {
        await holding[turn];
        const buffer = buffers[turn]!;
        const { bytesRead } = await this.handle.read(buffer, 0, Math.min(buffer.length, end - position), position);
        if (bytesRead === 0) break;
        position += bytesRead;
        holding[turn] = writeAndWait(destination, buffer.subarray(0, bytesRead), signal).then(() => {
          this.bytesWritten += bytesRead;
        });
        // Seen by the next await at the latest; without this an early failure would be unhandled meanwhile.
        holding[turn]!.catch(() => {});
      }
      await Promise.all(holding);
      return this.bytesWritten;
    } finally {
      await this.handle.close();
    }
  }

  /** Closes the file when the body will not be read (a HEAD, a client gone before the answer). */
  async discard(): Promise<void> {
    if (this.used) return;
    this.used = true;
    // Nothing waits on this: a failed close must not become an unhandled rejection.
    await this.handle.close().catch(() => {});
  }

  private claim(): void {
    if (this.used) throw new Error("a file body can be read once");
    this.used = true;
  }
}

/**
 * Resolves once `destination` is done with `chunk` (its write callback). A socket that is
 * destroyed drops pending callbacks without calling them, so the abort signal ends the wait.
 */
function writeAndWait(destination: Writable, chunk: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => reject(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    destination.write(chunk, (error) => {
      signal?.removeEventListener("abort", onAbort);
      if (error) reject(error);
      else resolve();
    });
  });
}
