/**
 * A sync byte stream (a download from the parent, an upstream push body) under the sync's
 * bandwidth cap and its window: each piece waits for the cap before it goes on, and the
 * stream stops with WindowClosedError at the first piece after the window closed.
 *
 * Pieces are at most PIECE_BYTES (views, not copies): a file read in 1 MiB chunks would
 * otherwise pass the window check once per MiB and leave the cap a MiB-sized burst. The
 * engine's stop uses the same switch (SyncWindow.shutDown), so a capped download does not
 * hold up the agent's exit.
 */
import type { BufferReader } from "../../../shared/remote/http-client.js";
import type { BandwidthLimit } from "./bandwidth.js";
import type { SyncWindow } from "./sync-window.js";

const PIECE_BYTES = 64 * 1024;
/** Under a low cap, pieces of a tenth of a second's worth (at least this), so the window is checked as often. */
const MIN_PIECE_BYTES = 4 * 1024;

export interface SyncLimits {
  bandwidth?: BandwidthLimit | undefined;
  window?: SyncWindow | undefined;
  /** Told each piece's size as it goes on (progress): here, not in a stream layer of its own, one await fewer per chunk. */
  onPiece?: ((bytes: number) => void) | undefined;
}

export async function* governed(body: AsyncIterable<Uint8Array>, { bandwidth, window, onPiece }: SyncLimits): AsyncGenerator<Uint8Array> {
  if (!bandwidth && !window && !onPiece) return yield* body;
  for await (const chunk of body) {
    const rate = bandwidth?.rate;
    const pieceBytes = rate === undefined ? PIECE_BYTES : Math.min(PIECE_BYTES, Math.max(MIN_PIECE_BYTES, Math.floor(rate / 10)));
    for (let offset = 0; offset < chunk.byteLength; offset += pieceBytes) {
      const piece = chunk.byteLength <= pieceBytes ? chunk : chunk.subarray(offset, offset + pieceBytes);
      window?.throwIfClosed();
      if (bandwidth?.rate !== undefined) await bandwidth.take(piece.byteLength);
      onPiece?.(piece.byteLength);
      yield piece;
    }
  }
}

/**
 * The same limits over a body read into the caller's buffers (a download over plain HTTP,
 * shared/remote/plain-http.ts). Under a cap each read asks for one piece; without one, for as
 * much as the caller's buffer holds (a MiB in the blob store): every read that does not fill it
 * pauses the socket and starts it again, and the window is still checked at every MiB.
 */
export function governedReader(reader: BufferReader, { bandwidth, window, onPiece }: SyncLimits): BufferReader {
  if (!bandwidth && !window && !onPiece) return reader;
  return {
    async readInto(target) {
      window?.throwIfClosed();
      const rate = bandwidth?.rate;
      const pieceBytes = rate === undefined ? target.byteLength : Math.min(PIECE_BYTES, Math.max(MIN_PIECE_BYTES, Math.floor(rate / 10)));
      const count = await reader.readInto(target.byteLength > pieceBytes ? target.subarray(0, pieceBytes) : target);
      if (count > 0) {
        if (bandwidth?.rate !== undefined) await bandwidth.take(count);
        onPiece?.(count);
      }
      return count;
    },
  };
}
