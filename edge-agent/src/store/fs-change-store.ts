/**
 * ChangeStore on one append-only JSON-lines file (`changes.log`), for the edge agent.
 * Each line is one of:
 *   a whole entry                      {"seq":7,"state":"pending","createdAt":...,"repository":...,"kind":...}
 *   a commit mark                      {"seq":7,"state":"committed"}
 *   the sequence floor (first line)    {"latest":42}   written when the file is rewritten, so
 *                                      purging old entries never lets numbers be handed out again
 *   the epoch                          {"epoch":"..."} written when the file is new (and with the
 *                                      floor); a later one replaces it (startEpoch)
 * Every call appends and fsyncs before it returns (calls that arrive together share one
 * fsync). The whole log is held in memory: the edge's log is bounded by the retention
 * purge, and reads are then answered without touching the disk. One process only: the
 * sequence counter lives in memory, starting after the highest number in the file.
 */
import { open, readFile, truncate, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { SequenceTakenError, newEpoch, type ChangeEntry, type ChangeStore, type LogHead } from "../../../shared/store/change-store.js";
import { isNotFound, writeFileAtomic } from "./atomic-file.js";
import { makeDirectory } from "./data-folder-guard.js";
import { firstIndexAfter } from "./sorted.js";

const LOG_FILE = "changes.log";

interface PendingLine {
  line: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class FsChangeStore implements ChangeStore {
  private readonly entries = new Map<number, ChangeEntry>();
  /** Sequence numbers of `entries`, ascending, for range reads. */
  private readonly order: number[] = [];
  /** Numbers being created right now: a second create of one fails at once, not after the write. */
  private readonly reserved = new Set<number>();
  private readonly pending: PendingLine[] = [];
  private flushScheduled = false;
  /** Every file operation runs in this chain: appends never interleave with a rewrite. */
  private io: Promise<unknown> = Promise.resolve();
  /** Bytes of complete lines in the file: a failed append is cut back to it. */
  private size = 0;
  private epoch = "";

  private constructor(
    private readonly path: string,
    private handle: FileHandle,
    private latest: number,
  ) {}

  /** Opens (or creates) `<folder>/changes.log` and loads it; a torn last line (crash mid-append) is dropped. */
  static async open(folder: string): Promise<FsChangeStore> {
    await makeDirectory(folder);
    const path = join(folder, LOG_FILE);
    let text = "";
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    if (text.length > 0 && !text.endsWith("\n")) {
      // Cut the torn tail off the file too, or the next append would be glued onto it.
      const complete = text.slice(0, text.lastIndexOf("\n") + 1);
      await truncate(path, Buffer.byteLength(complete));
      text = complete;
    }
    const handle = await open(path, "a");
    const store = new FsChangeStore(path, handle, 0);
    try {
      store.size = Buffer.byteLength(text);
      store.load(text);
      // A new log (or one from before epochs) gets its epoch now: a lost data folder comes back as a new log.
      if (!store.epoch) await store.startEpoch();
    } catch (error) {
      // Nobody gets the store to close: the caller may go on (a retry, a test process), so the file is closed here.
      await handle.close().catch(() => undefined);
      throw error;
    }
    return store;
  }

  async nextSequence(): Promise<number> {
    return ++this.latest;
  }

  async latestSequence(): Promise<number> {
    return this.latest;
  }

  async head(): Promise<LogHead> {
    return { seq: this.latest, epoch: this.epoch };
  }

  async startEpoch(): Promise<string> {
    const epoch = newEpoch();
    await this.append(JSON.stringify({ epoch }));
    this.epoch = epoch;
    return epoch;
  }

  async create(entry: ChangeEntry): Promise<void> {
    if (this.entries.has(entry.seq) || this.reserved.has(entry.seq)) throw new SequenceTakenError(`change ${entry.seq} already exists`);
    this.reserved.add(entry.seq);
    try {
      const stored = withoutUndefined(entry);
      await this.append(JSON.stringify(stored));
      // Visible to readers only once it is on disk.
      this.insert(stored);
      if (entry.seq > this.latest) this.latest = entry.seq;
    } finally {
      this.reserved.delete(entry.seq);
    }
  }

  async markCommitted(seq: number): Promise<void> {
    const entry = this.entries.get(seq);
    if (!entry) throw new Error(`change ${seq} does not exist`);
    await this.append(JSON.stringify({ seq, state: "committed" }));
    entry.state = "committed";
  }

  async readAfter(after: number, limit: number): Promise<ChangeEntry[]> {
    const start = firstIndexAfter(this.order, after);
    return this.order.slice(start, start + Math.max(0, Math.floor(limit))).map((seq) => ({ ...this.entries.get(seq)! }));
  }

  async readRange(first: number, last: number): Promise<ChangeEntry[]> {
    const found: ChangeEntry[] = [];
    for (let seq = first; seq <= last; seq++) {
      const entry = this.entries.get(seq);
      if (entry) found.push({ ...entry });
    }
    return found;
  }

  async deleteOlderThan(cutoff: Date, limit: number): Promise<number> {
    return this.exclusive(async () => {
      const doomed = this.order.filter((seq) => Date.parse(this.entries.get(seq)!.createdAt) < cutoff.getTime()).slice(0, Math.max(0, Math.floor(limit)));
      if (doomed.length === 0) return 0;
      const gone = new Set(doomed);
      const kept = this.order.filter((seq) => !gone.has(seq));
      // Entries are written with their current state, so the rewritten file has no marks.
      const lines = [JSON.stringify({ latest: this.latest, epoch: this.epoch }), ...kept.map((seq) => JSON.stringify(this.entries.get(seq)))];
      await this.handle.close();
      try {
        const content = lines.join("\n") + "\n";
        await writeFileAtomic(this.path, content);
        this.size = Buffer.byteLength(content);
      } finally {
        this.handle = await open(this.path, "a");
      }
      for (const seq of doomed) this.entries.delete(seq);
      this.order.splice(0, this.order.length, ...kept);
      return doomed.length;
    });
  }

  /** Waits for pending writes and closes the file (tests, shutdown). */
  async close(): Promise<void> {
    await this.exclusive(() => this.handle.close());
  }

  private load(text: string): void {
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        // Only a torn tail can be malformed, and open() cut it off; anything else is
        // skipped rather than keeping the registry from starting.
        continue;
      }
      if (typeof record.epoch === "string") this.epoch = record.epoch;
      if (typeof record.latest === "number") {
        this.latest = Math.max(this.latest, record.latest);
      } else if (typeof record.seq !== "number") {
        continue;
      } else if ("kind" in record) {
        const entry = record as unknown as ChangeEntry;
        if (!this.entries.has(entry.seq)) this.insert(entry);
        this.latest = Math.max(this.latest, entry.seq);
      } else if (record.state === "committed") {
        // A mark for a purged entry has nothing to mark.
        const entry = this.entries.get(record.seq);
        if (entry) entry.state = "committed";
      }
    }
  }

  private insert(entry: ChangeEntry): void {
    this.entries.set(entry.seq, entry);
    // Numbers arrive almost in order: scan from the end.
    let index = this.order.length;
    while (index > 0 && this.order[index - 1]! > entry.seq) index--;
    this.order.splice(index, 0, entry.seq);
  }

  /** Appends one line durably; lines arriving while a write is in flight share the next fsync. */
  private append(line: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ line, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        void this.exclusive(() => this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    const text = batch.map((p) => p.line + "\n").join("");
    try {
      await this.handle.write(text);
      await this.handle.datasync();
      this.size += Buffer.byteLength(text);
      for (const p of batch) p.resolve();
    } catch (error) {
      // A half-written batch (disk full) would leave a torn line in the middle of the log.
      await this.handle.truncate(this.size).catch(() => undefined);
      for (const p of batch) p.reject(error);
    }
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.io.then(task, task);
    this.io = run.catch(() => undefined);
    return run;
  }
}


function withoutUndefined(entry: ChangeEntry): ChangeEntry {
  return Object.fromEntries(Object.entries(entry).filter(([, value]) => value !== undefined)) as unknown as ChangeEntry;
}
