/**
 * A sync byte stream (a download from the parent, an upstream push body) under the sync's
 * bandwidth cap and its window: each piece waits for the cap before it goes on, and the
 * stream stops with WindowClosedError at the first piece after the window closed.
 *
 * Pieces are at most PIECE_BYTES (views, not copies): a file read in 1 MiB chunks would
 * otherwise pass the window check once per MiB and leave the cap a MiB-sized burst.
 */
import type { BandwidthLimit } from "./bandwidth.js";
import type { SyncWindow } from "./sync-window.js";

const PIECE_BYTES = 64 * 1024;

export interface SyncLimits {
  bandwidth?: BandwidthLimit | undefined;
  window?: SyncWindow | undefined;
}

export async function* governed(body: AsyncIterable<Uint8Array>, { bandwidth, window }: SyncLimits): AsyncGenerator<Uint8Array> {
  if (!bandwidth && !window) return yield* body;
  for await (const chunk of body) {
    for (let offset = 0; offset < chunk.byteLength; offset += PIECE_BYTES) {
      const piece = chunk.byteLength <= PIECE_BYTES ? chunk : chunk.subarray(offset, offset + PIECE_BYTES);
      window?.throwIfClosed();
      if (bandwidth?.rate !== undefined) await bandwidth.take(piece.byteLength);
      yield piece;
    }
  }
}
