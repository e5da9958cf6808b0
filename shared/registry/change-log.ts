/**
 * The registry's change log: what connected registries read to stay in sync
 * (docs/sync-protocol.md, section 4). It must never let a reader pass over a change, with
 * concurrent writers and writers that crash mid-change, and without transactions:
 *
 * - Writers write ahead: take a sequence number, create the entry as "pending", make the
 *   change, then mark the entry "committed".
 * - Readers stop before the first number they cannot settle: a pending entry younger
 *   than the grace period, or a missing number whose successor is younger than it.
 * - Time settles crashes: an older pending entry is returned as "unconfirmed" (the edge
 *   re-reads that tag or manifest); an older missing number is filled with a "void"
 *   entry, and a writer whose number was voided takes a new one.
 */
import type { ChangeEntry, ChangeFields, ChangeStore } from "../store/change-store.js";
import { SequenceTakenError } from "../store/change-store.js";
import { RegistryError } from "../domain/registry-errors.js";

export interface FeedEntry extends Omit<ChangeEntry, "state"> {
  /** "unconfirmed": the writer never finished; look at the current state instead. */
  state: "committed" | "unconfirmed";
}

export interface FeedPage {
  entries: FeedEntry[];
  /** The last sequence number settled: the reader continues after it. */
  settled: number;
  /** Whether more entries may follow right away. */
  more: boolean;
}

export interface ChangeLogOptions {
  graceMs: number;
  now?: () => number;
  log?: (message: string) => void;
}

/** How often a writer takes a new number when its numbers keep being voided. */
const WRITE_ATTEMPTS = 5;
/**
 * Up to this many new numbers are fetched by point reads rather than a query: a sync that
 * is nearly up to date costs a few point reads, whatever the size of the log.
 */
const POINT_READ_SPAN = 64;

export class ChangeLog {
  private readonly now: () => number;

  constructor(
    private readonly store: ChangeStore,
    private readonly options: ChangeLogOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Records a change around the write that makes it: the pending entry before, the
   * commit after. If `apply` throws, the entry stays pending and readers will see it as
   * unconfirmed after the grace period, which is harmless: they look and find no change.
   */
  async record<T>(fields: ChangeFields, apply: () => Promise<T>): Promise<T> {
    const { seq, startedAt } = await this.writeAhead(fields);
    // A writer this late could land its change after readers gave up waiting for it.
    if (this.now() - startedAt > this.options.graceMs / 2) {
      throw new RegistryError("TOOMANYREQUESTS", `the change log is too slow right now (change ${seq} took over ${this.options.graceMs / 2000} s to start); nothing was changed, retry`, {
        headers: { "Retry-After": "1" },
      });
    }
    const result = await apply();
    await this.store.markCommitted(seq);
    return result;
  }

  async read(after: number, limit: number): Promise<FeedPage> {
    // Nothing new is the common case: one point read answers it.
    const latest = await this.store.latestSequence();
    if (latest <= after) return { entries: [], settled: after, more: false };
    const span = Math.min(latest - after, limit);
    const stored = span <= POINT_READ_SPAN ? await this.store.readRange(after + 1, after + span) : await this.store.readAfter(after, limit);
    const more = span <= POINT_READ_SPAN ? latest > after + span : stored.length === limit;
    const entries: FeedEntry[] = [];
    let settled = after;
    const oldEnough = (entry: ChangeEntry): boolean => this.now() - Date.parse(entry.createdAt) >= this.options.graceMs;
    for (const entry of stored) {
      // Numbers missing before this entry were taken before it was created.
      while (entry.seq > settled + 1) {
        if (!oldEnough(entry)) return { entries, settled, more: false };
        if (!(await this.voidNumber(settled + 1))) return { entries, settled, more: true };
        settled++;
      }
      if (entry.state === "pending") {
        if (!oldEnough(entry)) return { entries, settled, more: false };
        entries.push({ ...entry, state: "unconfirmed" });
      } else if (entry.state === "committed") {
        entries.push({ ...entry, state: "committed" });
      }
      settled = entry.seq;
    }
    return { entries, settled, more };
  }

  /**
   * Where a new reader should start, after a full copy of the current state: just
   * before the oldest entry that may still change (pending, or behind a young gap), so a
   * change in flight during the copy is read again rather than missed. Only entries
   * within the grace period can be unsettled, so looking at the last `window` suffices.
   */
  async startingPoint(window = 1000): Promise<number> {
    const latest = await this.store.latestSequence();
    const from = Math.max(0, latest - window);
    let settled = from;
    for (const entry of await this.store.readAfter(from, window)) {
      if (entry.seq > settled + 1 || entry.state === "pending") return settled;
      settled = entry.seq;
    }
    // Numbers handed out but not yet written sit after the last entry.
    return settled;
  }

  /** Drops entries older than `retentionMs` (the Cosmos TTL does it too, but not every Cosmos does). */
  async purge(retentionMs: number, limit: number): Promise<number> {
    return this.store.deleteOlderThan(new Date(this.now() - retentionMs), limit);
  }

  private async writeAhead(fields: ChangeFields): Promise<{ seq: number; startedAt: number }> {
    const startedAt = this.now();
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const seq = await this.store.nextSequence();
      try {
        await this.store.create({ ...fields, seq, state: "pending", createdAt: new Date(this.now()).toISOString() });
        return { seq, startedAt };
      } catch (error) {
        if (!(error instanceof SequenceTakenError)) throw error;
        this.options.log?.(`change log: number ${seq} was voided before ${fields.kind} ${fields.repository} could use it; taking another`);
      }
    }
    throw new Error(`could not record ${fields.kind} on ${fields.repository}: ${WRITE_ATTEMPTS} sequence numbers were voided in a row`);
  }

  /** Fills a number its writer never used; false if the writer's entry appeared meanwhile. */
  private async voidNumber(seq: number): Promise<boolean> {
    try {
      await this.store.create({ seq, state: "void", repository: "", kind: "tag.set", createdAt: new Date(this.now()).toISOString() });
      return true;
    } catch (error) {
      if (error instanceof SequenceTakenError) return false;
      throw error;
    }
  }
}
