/**
 * The edge's pending notifications (docs/events.md): images that arrived here (a sync, or
 * a client's push) or left (a sync's delete, a client's delete) and match one of this
 * connected registry's `notifications` patterns. Kept in a file, written before the change
 * is acknowledged, so a restart loses none; the status reporter sends them to the parent
 * and drops those it accepted. Bounded: past MAX_PENDING the oldest go, with a warning.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { matchesNotification } from "../../shared/domain/event-scope.js";
import type { EdgeEventReport } from "../../shared/domain/connected-registry/index.js";
import type { EventSink, NewEvent } from "../../shared/events/outbox.js";
import { readJsonFile, writeFileAtomic } from "./store/atomic-file.js";
import type { Logger } from "./log.js";

const FILE = "notifications.json";
const MAX_PENDING = 10_000;

export class EdgeNotifications implements EventSink {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private pendingEvents: EdgeEventReport[],
    private readonly patterns: () => readonly string[],
    private readonly log: Logger,
  ) {}

  static async open(dataDir: string, patterns: () => readonly string[], log: Logger): Promise<EdgeNotifications> {
    const path = join(dataDir, FILE);
    let stored: unknown;
    try {
      stored = await readJsonFile<unknown>(path);
    } catch (error) {
      // Written atomically, so only a damaged volume gets here: the agent must still start.
      if (!(error instanceof SyntaxError)) throw error;
      log.warn("the pending notifications could not be read and are dropped", { file: path, error: error.message });
    }
    return new EdgeNotifications(path, Array.isArray(stored) ? (stored as EdgeEventReport[]) : [], patterns, log);
  }

  async emit(event: NewEvent): Promise<void> {
    if (event.action === "ping") return;
    const { repository, tag, digest, mediaType, size } = event.target;
    const scoped = { action: event.action, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
    if (!this.patterns().some((pattern) => matchesNotification(pattern, scoped))) return;
    this.pendingEvents.push({
      id: event.id ?? randomUUID(),
      timestamp: event.timestamp ?? new Date().toISOString(),
      action: event.action,
      repository,
      ...(tag ? { tag } : {}),
      ...(digest ? { digest } : {}),
      ...(mediaType ? { mediaType } : {}),
      ...(size !== undefined ? { size } : {}),
    });
    if (this.pendingEvents.length > MAX_PENDING) {
      const dropped = this.pendingEvents.splice(0, this.pendingEvents.length - MAX_PENDING);
      this.log.warn("too many notifications wait for the parent; the oldest were dropped", { dropped: dropped.length });
    }
    await this.save();
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
    await this.save();
  }

  /** Writes one after another, each with the whole list as it is then. */
  private save(): Promise<void> {
    const next = this.writing.catch(() => {}).then(() => writeFileAtomic(this.path, JSON.stringify(this.pendingEvents), 0o600));
    this.writing = next;
    return next;
  }
}
