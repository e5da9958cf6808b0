/**
 * Upstream entries (ReadWrite) that kept failing: parked in the state file so the entries
 * behind them go on, shown in `status`, reported to the parent in the heartbeat, and tried
 * again later (after a minute, then twice as long each time, at most an hour). The same
 * pattern as failed-items.ts, which holds what the edge could not sync *down*; the two are
 * kept apart because the engine retries failed items by fetching them from the parent.
 *
 * Order where it matters: an entry on the same tag or digest as a parked one is parked
 * behind it (a tag waits for its manifest, a delete for the push it undoes), and parked
 * entries are retried in change-log order.
 */
import type { ChangeEntry } from "../../../shared/store/change-store.js";
import type { ParkedUpstream, StateFile } from "../state.js";

/** Failed tries in a row (none of which moved a blob forward) before an entry is parked. */
export const UPSTREAM_TRIES = 5;
const FIRST_RETRY_MS = 60_000;
const MAX_RETRY_MS = 3_600_000;

export type UpstreamEntry = Pick<ChangeEntry, "repository" | "kind" | "tag" | "digest" | "seq">;

export function parkedName(entry: Pick<ParkedUpstream, "repository" | "kind" | "tag" | "digest">): string {
  return `upstream ${entry.kind} ${entry.tag ? `${entry.repository}:${entry.tag}` : `${entry.repository}@${entry.digest ?? "?"}`}`;
}

export class ParkedUpstreamEntries {
  constructor(private readonly state: StateFile) {}

  get all(): readonly ParkedUpstream[] {
    return this.state.state.upstreamParked ?? [];
  }

  /** The parked entry `entry` must wait for (same repository, and the same tag or digest), if any. */
  blocker(entry: UpstreamEntry): ParkedUpstream | undefined {
    return this.all.find(
      (parked) =>
        parked.seq !== entry.seq &&
        parked.seq < entry.seq &&
        parked.repository === entry.repository &&
        ((entry.tag !== undefined && parked.tag === entry.tag) || (entry.digest !== undefined && parked.digest === entry.digest)),
    );
  }

  async park(entry: UpstreamEntry, error: string): Promise<void> {
    const now = new Date().toISOString();
    await this.state.update((s) => {
      const list = (s.upstreamParked ?? []).filter((parked) => parked.seq !== entry.seq);
      list.push({
        seq: entry.seq,
        repository: entry.repository,
        kind: entry.kind,
        ...(entry.tag ? { tag: entry.tag } : {}),
        ...(entry.digest ? { digest: entry.digest } : {}),
        error,
        since: now,
        lastTried: now,
        retries: 0,
      });
      s.upstreamParked = list.sort((a, b) => a.seq - b.seq);
    });
  }

  /** A retry failed again: wait twice as long before the next. */
  async failedAgain(seq: number, error: string): Promise<void> {
    await this.state.update((s) => {
      const parked = s.upstreamParked?.find((entry) => entry.seq === seq);
      if (!parked) return;
      parked.error = error;
      parked.lastTried = new Date().toISOString();
      parked.retries++;
    });
  }

  async clear(seq: number): Promise<void> {
    if (!this.all.some((entry) => entry.seq === seq)) return;
    await this.state.update((s) => {
      const list = (s.upstreamParked ?? []).filter((entry) => entry.seq !== seq);
      if (list.length > 0) s.upstreamParked = list;
      else delete s.upstreamParked;
    });
  }

  /** Parked entries whose wait is over, oldest change first. */
  due(now = Date.now()): ParkedUpstream[] {
    return this.all.filter((entry) => now - Date.parse(entry.lastTried) >= Math.min(FIRST_RETRY_MS * 2 ** entry.retries, MAX_RETRY_MS));
  }
}
