/**
 * A request body read with an idle bound: each wait for the client's next bytes may last
 * `idleMs`, then the read fails with `onIdle()`'s error (which cuts the connection). The clock
 * runs only while the reader waits on the client, never while the handler is busy with what it
 * already got, so a slow blob store does not look like a slow client.
 *
 * It reads with `read()` rather than an async iterator, because an iterator that its reader
 * leaves early destroys the request, and with it the connection that should carry the answer
 * (a 413, say); the host drains what is left through the same bound instead.
 */
import type { Readable } from "node:stream";

export function idleBoundedBody(source: Readable, idleMs: number, onIdle: () => Error): AsyncIterable<Uint8Array> {
  // Errors are read from `source.errored`; without a listener an aborted request could throw.
  source.on("error", () => {});
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const chunk = source.read() as Uint8Array | null;
        if (chunk !== null) {
          yield chunk;
          continue;
        }
        if (source.readableEnded) return;
        if (source.errored) throw source.errored;
        if (source.destroyed) throw new Error("the request closed before its body ended");
        await readable(source, idleMs, onIdle);
      }
    },
  };
}

function readable(source: Readable, idleMs: number, onIdle: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error): void => {
      clearTimeout(timer);
      source.off("readable", ready).off("end", ready).off("close", ready).off("error", settle);
      if (error) reject(error);
      else resolve();
    };
    const ready = (): void => settle();
    const timer = setTimeout(() => settle(onIdle()), idleMs);
    source.on("readable", ready).on("end", ready).on("close", ready).on("error", settle);
  });
}
