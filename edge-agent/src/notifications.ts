/**
 * The edge's pending notifications (docs/events.md): images that arrived here (a sync, or
 * a client's push) or left (a sync's delete, a client's delete) and match one of this
 * connected registry's `notifications` patterns. Kept in a file, written before the change
 * is acknowledged, so a restart loses none; the status reporter sends them to the parent
 * and drops those it accepted. Bounded: past MAX_PENDING the oldest go, with a warning.
 *
 * The file is a log, one JSON line per event, appended and fsynced (events emitted together,
 * as a sync step's, share one write and one fsync), so a first sync matching n images writes
 * O(n) bytes, not the whole list again per event. What the parent accepted is one
 * `{"accepted": [ids]}` line; once those dead lines outnumber the live ones, the file is
 * rewritten (atomically) with the pending events alone. Opening rewrites it too, which
 * also drops a line a crash cut short.
 */
import { randomUUID } from "node:crypto";
import { open, readFile, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { matchesNotification } from "../../shared/domain/event-scope.js";
import type { EdgeEventReport } from "../../shared/domain/connected-registry/index.js";
import type { EventSink, NewEvent } from "../../shared/events/outbox.js";
import { isNotFound, readJsonFile, writeFileAtomic } from "./store/atomic-file.js";
import type { Logger } from "./log.js";

const FILE = "notifications.jsonl";
/** Where versions before the log kept the whole list as one JSON array: read once, then removed. */
const LEGACY_FILE = "notifications.json";
const MAX_PENDING = 10_000;
/** Dead lines tolerated beyond the live ones before a rewrite. */
const COMPACT_SLACK = 1000;

export class EdgeNotifications implements EventSink {
  /** File operations, one after another. */
  private writing: Promise<void> = Promise.resolve();
  /** Lines emitted and not yet written, and the append that will write them (joined by later emits). */
  private queuedLines: string[] = [];
  private nextAppend?: Promise<void>;
  private handle?: FileHandle;
  /** Event lines in the file: pending ones and those accepted or dropped since the last rewrite. */
  private eventLines = 0;
  /** An append failed part-way: the next write rewrites the file rather than append to a cut line. */
  private damaged = false;

  private constructor(
    private readonly path: string,
    private pendingEvents: EdgeEventReport[],
    private readonly patterns: () => readonly string[],
    private readonly log: Logger,
  ) {}

  static async open(dataDir: string, patterns: () => readonly string[], log: Logger): Promise<EdgeNotifications> {
    const path = join(dataDir, FILE);
    const legacyPath = join(dataDir, LEGACY_FILE);
    const events = new Map<string, EdgeEventReport>();
    for (const event of await readLegacy(legacyPath, log)) events.set(event.id, event);
    const { replayed, cut } = await replay(path);
    for (const entry of replayed) {
      if ("accepted" in entry) for (const id of entry.accepted) events.delete(id);
      else events.set(entry.id, entry);
    }
    if (cut > 0) log.warn("pending notifications: a line cut short (by a crash) was dropped", { file: path, lines: cut });
    const notifications = new EdgeNotifications(path, [...events.values()].slice(-MAX_PENDING), patterns, log);
    await notifications.compact();
    await rm(legacyPath, { force: true });
    return notifications;
  }

  async emit(event: NewEvent): Promise<void> {
    if (event.action === "ping") return;
    const { repository, tag, digest, mediaType, size } = event.target;
    const scoped = { action: event.action, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
    if (!this.patterns().some((pattern) => matchesNotification(pattern, scoped))) return;
    const report: EdgeEventReport = {
      id: event.id ?? randomUUID(),
      timestamp: event.timestamp ?? new Date().toISOString(),
      action: event.action,
      repository,
      ...(tag ? { tag } : {}),
      ...(digest ? { digest } : {}),
      ...(mediaType ? { mediaType } : {}),
      ...(size !== undefined ? { size } : {}),
    };
    this.pendingEvents.push(report);
    if (this.pendingEvents.length > MAX_PENDING) {
      const dropped = this.pendingEvents.splice(0, this.pendingEvents.length - MAX_PENDING);
      this.log.warn("too many notifications wait for the parent; the oldest were dropped", { dropped: dropped.length });
    }
    await this.append(`${JSON.stringify(report)}\n`);
  }

  /** The oldest `max` events waiting for the parent. */
  pending(max: number): EdgeEventReport[] {
    return this.pendingEvents.slice(0, max);
  }

  /** The parent queued these: they are not sent again. */
  async accepted(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const done = new Set(ids);
    this.pendingEvents = this.pendingEvents.filter((event) => !done.has(event.id));
    if (this.eventLines - this.pendingEvents.length > this.pendingEvents.length + COMPACT_SLACK) await this.compact();
    else await this.append(`${JSON.stringify({ accepted: ids })}\n`);
  }

  /**
   * Closes the file once the writes queued so far are done (the agent's stop: in a process that
   * goes on, the append handle would otherwise wait for the garbage collector). A later emit opens it again.
   */
  close(): Promise<void> {
    const next = this.writing
      .catch(() => {})
      .then(async () => {
        const handle = this.handle;
        this.handle = undefined;
        await handle?.close();
      });
    this.writing = next;
    return next;
  }

  /** Queues a line; lines queued while an append waits its turn go in that same write and fsync. */
  private append(line: string): Promise<void> {
    this.queuedLines.push(line);
    if (this.nextAppend) return this.nextAppend;
    const next = this.writing
      .catch(() => {})
      .then(async () => {
        this.nextAppend = undefined;
        const lines = this.queuedLines.splice(0);
        if (lines.length === 0) return; // a rewrite took them
        if (this.damaged) return this.rewrite();
        try {
          this.handle ??= await open(this.path, "a", 0o600);
          await this.handle.write(lines.join(""));
          await this.handle.datasync();
        } catch (error) {
          this.damaged = true;
          throw error;
        }
        this.eventLines += lines.filter((text) => !text.startsWith('{"accepted"')).length;
      });
    this.nextAppend = next;
    this.writing = next;
    return next;
  }

  /** Rewrites the file with the pending events alone, after the writes already queued. */
  private compact(): Promise<void> {
    const next = this.writing.catch(() => {}).then(() => this.rewrite());
    this.writing = next;
    return next;
  }

  private async rewrite(): Promise<void> {
    // Every queued line's event is in pendingEvents (or was accepted): this write has them all.
    this.queuedLines.length = 0;
    const events = this.pendingEvents;
    await this.handle?.close().catch(() => {});
    this.handle = undefined;
    await writeFileAtomic(this.path, events.map((event) => `${JSON.stringify(event)}\n`).join(""), 0o600);
    this.eventLines = events.length;
    this.damaged = false;
  }
}

type LogLine = EdgeEventReport | { accepted: string[] };

async function replay(path: string): Promise<{ replayed: LogLine[]; cut: number }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (isNotFound(error)) return { replayed: [], cut: 0 };
    throw error;
  }
  const replayed: LogLine[] = [];
  let cut = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      const parsed = JSON.parse(line) as LogLine;
      if (typeof parsed === "object" && parsed !== null && (Array.isArray((parsed as { accepted?: unknown }).accepted) || typeof (parsed as { id?: unknown }).id === "string")) replayed.push(parsed);
      else cut++;
    } catch {
      cut++;
    }
  }
  return { replayed, cut };
}

async function readLegacy(path: string, log: Logger): Promise<EdgeEventReport[]> {
  try {
    const stored = await readJsonFile<unknown>(path);
    return Array.isArray(stored) ? (stored as EdgeEventReport[]) : [];
  } catch (error) {
    // Written atomically, so only a damaged volume gets here: the agent must still start.
    if (!(error instanceof SyntaxError)) throw error;
    log.warn("the pending notifications could not be read and are dropped", { file: path, error: error.message });
    return [];
  }
}
