/**
 * One page of a connected registry's feed, as the cloud and an edge agent serving its
 * children both answer it: the cursor checked (issued for this connected registry, not
 * older than its message TTL, still in the log's history), the log read on from it, and
 * the entries limited to the connected registry's repositories.
 */
import { durationMilliseconds } from "../domain/connected-registry/index.js";
import { HistoryRewrittenError, type ChangeLog } from "../registry/change-log.js";
import { cursorPosition, decodeCursor, encodeCursor } from "./cursor.js";
import { SyncError } from "./errors.js";
import { feedChanges, type FeedChange } from "./feed-changes.js";

export interface FeedPageRequest {
  name: string;
  cursor: string;
  messageTtl: string;
  repositories: readonly string[];
  limit: number;
  now: number;
}

export interface FeedPageAnswer {
  changes: FeedChange[];
  cursor: string;
  more: boolean;
  /**
   * Where the parent's log stands, so the edge can tell its lag (docs/sync-protocol.md,
   * section 4): its last number, and how many numbers lie beyond this page's cursor (entries
   * of every repository, and numbers not written yet: an upper bound for the edge's scope).
   */
  head: { seq: number; behind: number };
}

export async function readFeedPage(changes: ChangeLog, request: FeedPageRequest): Promise<FeedPageAnswer> {
  const cursor = decodeCursor(request.cursor, request.name);
  if (request.now - cursor.t > durationMilliseconds(request.messageTtl)) {
    throw new SyncError("CURSOR_EXPIRED", `the cursor is older than the message TTL (${request.messageTtl}); do a full resync`, { reason: "ttl" });
  }
  try {
    const page = await changes.readFrom(cursorPosition(cursor), request.limit);
    return {
      changes: feedChanges(page.entries, request.repositories),
      cursor: encodeCursor(request.name, page.position, request.now),
      more: page.more,
      head: { seq: page.head, behind: Math.max(0, page.head - page.position.seq) },
    };
  } catch (error) {
    // The same answer as an expired cursor: the edge copies the current state again, never skips.
    if (error instanceof HistoryRewrittenError) throw new SyncError("CURSOR_EXPIRED", `${error.message}; do a full resync`, { reason: error.reason });
    throw error;
  }
}
