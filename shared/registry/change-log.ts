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
 * - A reader's position names the history it read (the log's epoch, and the stamp of the
 *   entry it stopped at), so a log that went back in time (a restore, a rebuilt parent)
 *   is noticed instead of handing out numbers the reader already passed.
 */
import type { ChangeEntry, ChangeFields, ChangeStore } from "../store/change-store.js";
import { SequenceTakenError, newStamp } from "../store/change-store.js";
import { RegistryError } from "../domain/registry-errors.js";

export interface FeedEntry extends Omit<ChangeEntry, "state"> {
  /** "unconfirmed": the writer never finished; look at the current state instead. */
  state: "committed" | "unconfirmed";
}

export interface FeedPage {
  entries: FeedEntry[];
  /** The last sequence number settled: the reader continues after it. */
  settled: number;
  /** The fingerprint of the entry at `settled`, when this read went past it (see `fingerprint`). */
  settledFingerprint?: string;
  /** Whether more entries may follow right away. */
  more: boolean;
}

/**
 * A reader's place in one history of the log: the epoch, the last number it settled, and
 * the fingerprint of the entry at that number (absent when there was none: number 0, or a
 * number whose entry was gone when the position was made).
 */
export interface LogPosition {
  epoch: string;
  seq: number;
  fingerprint?: string;
}

export interface PositionedPage {
  entries: FeedEntry[];
  position: LogPosition;
  more: boolean;
  /** The log's last number when this page was read (numbers handed out but not yet written count). */
  head: number;
}

/** Why a position does not belong to the log's history any more. */
export type RewriteReason = "epoch" | "beyond-head" | "anchor";

/**
 * The log is not the history the position was read from (restored, rebuilt, or a new
 * epoch was started): the reader must copy the current state again, as after an expired cursor.
 */
export class HistoryRewrittenError extends Error {
  constructor(
    readonly reason: RewriteReason,
    message: string,
  ) {
    super(message);
  }
}

/** What identifies an entry across histories: its stamp (older entries: the time it was written). */
export function fingerprint(entry: Pick<ChangeEntry, "stamp" | "createdAt"> | undefined): string | undefined {
  return entry ? (entry.stamp ?? entry.createdAt) : undefined;
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

  /**
   * Reads on from a position a reader was given, after checking that the log is still the
   * history that position was read from: same epoch, not behind the position, and the
   * entry at the position's number is the one the reader passed. A restore brings the
   * epoch back with everything else, and then hands the same numbers out again: only the
   * entry's fingerprint tells the new history from the old.
   */
  async readFrom(position: LogPosition, limit: number): Promise<PositionedPage> {
    // Two point reads at once: the head, and the entry the position stopped at.
    const [head, [entry]] = await Promise.all([this.store.head(), position.seq > 0 ? this.store.readRange(position.seq, position.seq) : Promise.resolve([])]);
    if (position.epoch !== head.epoch) {
      throw new HistoryRewrittenError("epoch", `the change log has started a new epoch since this cursor was issued (a restore or a rebuilt registry)`);
    }
    if (position.seq > head.seq) {
      throw new HistoryRewrittenError("beyond-head", `the cursor is at change ${position.seq} but the change log ends at ${head.seq}: the log went back in time (a restore?)`);
    }
    if (position.seq > 0 && fingerprint(entry) !== position.fingerprint) {
      throw new HistoryRewrittenError("anchor", `change ${position.seq} is not the entry this cursor read: the log was rewritten since (a restore?) or that entry expired`);
    }
    const page = await this.readKnowing(head.seq, position.seq, limit);
    const settled = page.settled === position.seq ? position : { epoch: head.epoch, seq: page.settled, ...optional(page.settledFingerprint) };
    return { entries: page.entries, position: settled, more: page.more, head: head.seq };
  }

  /**
   * Where a new reader starts (`startingPoint`), as a position in the current history.
   */
  async startingPosition(): Promise<LogPosition> {
    const { epoch } = await this.store.head();
    const seq = await this.startingPoint();
    if (seq === 0) return { epoch, seq };
    const [entry] = await this.store.readRange(seq, seq);
    return { epoch, seq, ...optional(fingerprint(entry)) };
  }

  /**
   * Entries as stored, pending ones included, in seq order: for a registry's own bookkeeping
   * (who last changed a tag), not for readers that must not pass over an unsettled change.
   */
  async storedAfter(after: number, limit: number): Promise<ChangeEntry[]> {
    return this.store.readAfter(after, limit);
  }

  /** Starts a new epoch: every reader copies the current state again (docs/operations.md, after a restore). */
  async startEpoch(): Promise<string> {
    return this.store.startEpoch();
  }

  async read(after: number, limit: number): Promise<FeedPage> {
    return this.readKnowing(await this.store.latestSequence(), after, limit);
  }

  private async readKnowing(latest: number, after: number, limit: number): Promise<FeedPage> {
    // Nothing new is the common case: one point read answers it.
    if (latest <= after) return { entries: [], settled: after, more: false };
    const span = Math.min(latest - after, limit);
    const stored = span <= POINT_READ_SPAN ? await this.store.readRange(after + 1, after + span) : await this.store.readAfter(after, limit);
    const more = span <= POINT_READ_SPAN ? latest > after + span : stored.length === limit;
    const entries: FeedEntry[] = [];
    let settled = after;
    let settledFingerprint: string | undefined;
    const page = (more: boolean): FeedPage => ({ entries, settled, ...(settled !== after && settledFingerprint !== undefined ? { settledFingerprint } : {}), more });
    const oldEnough = (entry: ChangeEntry): boolean => this.now() - Date.parse(entry.createdAt) >= this.options.graceMs;
    for (const entry of stored) {
      // Numbers missing before this entry were taken before it was created.
      while (entry.seq > settled + 1) {
        if (!oldEnough(entry)) return page(false);
        const voided = await this.voidNumber(settled + 1);
        if (!voided) return page(true);
        settled++;
        settledFingerprint = voided;
      }
      if (entry.state === "pending") {
        if (!oldEnough(entry)) return page(false);
        entries.push({ ...entry, state: "unconfirmed" });
      } else if (entry.state === "committed") {
        entries.push({ ...entry, state: "committed" });
      }
      settled = entry.seq;
      settledFingerprint = fingerprint(entry);
    }
    return page(more);
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
        await this.store.create({ ...fields, seq, state: "pending", createdAt: new Date(this.now()).toISOString(), stamp: newStamp() });
        return { seq, startedAt };
      } catch (error) {
        if (!(error instanceof SequenceTakenError)) throw error;
        this.options.log?.(`change log: number ${seq} was voided before ${fields.kind} ${fields.repository} could use it; taking another`);
      }
    }
    throw new Error(`could not record ${fields.kind} on ${fields.repository}: ${WRITE_ATTEMPTS} sequence numbers were voided in a row`);
  }

  /** Fills a number its writer never used; returns the void's stamp, or undefined if the writer's entry appeared meanwhile. */
  private async voidNumber(seq: number): Promise<string | undefined> {
    const stamp = newStamp();
    try {
      await this.store.create({ seq, state: "void", repository: "", kind: "tag.set", createdAt: new Date(this.now()).toISOString(), stamp });
      return stamp;
    } catch (error) {
      if (error instanceof SequenceTakenError) return undefined;
      throw error;
    }
  }
}

function optional(fingerprint: string | undefined): { fingerprint?: string } {
  return fingerprint === undefined ? {} : { fingerprint };
}
