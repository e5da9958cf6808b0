/**
 * The sync window, held while a sync runs (docs/edge-agent.md, "Sync windows and
 * bandwidth"): the engine asks it before each image, feed change and upstream entry, the
 * applier before it writes an image's manifests and tag, and every download and push body
 * per chunk. Once the window has closed they stop with WindowClosedError, so an image is
 * either complete and tagged or not visible at all, and a blob cut mid-download keeps its
 * partial file for a Range resume at the next window.
 *
 * The clock is injected (a test jumps it past a window's end; windows are at least an hour).
 */
import { nextSyncStart, syncWindowEnd } from "../../../shared/domain/connected-registry/index.js";
import type { EdgeConfiguration } from "../../../shared/sync/configuration.js";

/** Thrown at a consistent point when the window closed mid-sync; the engine then waits for the next one. */
export class WindowClosedError extends Error {
  constructor(readonly nextWindowAt: Date) {
    super(`the sync window closed; the sync resumes at the next window, ${nextWindowAt.toISOString()}`);
    this.name = "WindowClosedError";
  }
}

export class SyncWindow {
  /** When the window last computed closes; recomputed only once it has passed (cron parsing is not per-chunk cheap). */
  private closesAt = -Infinity;
  private computedFor: EdgeConfiguration | undefined;
  private shutting = false;

  constructor(
    readonly now: () => Date,
    private readonly configuration: () => EdgeConfiguration | undefined,
  ) {}

  /** 0 when syncing is allowed now; otherwise milliseconds until the next window opens. */
  msUntilOpen(): number {
    const now = this.now();
    if (!this.closedAt(now)) return 0;
    return Math.max(this.nextOpening(now).getTime() - now.getTime(), 0);
  }

  /** The next window's start (only meaningful outside a window). */
  nextOpening(now: Date = this.now()): Date {
    const configuration = this.configuration();
    return configuration ? nextSyncStart(configuration.schedule, now) : now;
  }

  get closed(): boolean {
    return this.closedAt(this.now());
  }

  /** Throws WindowClosedError when the window has closed: call it where stopping leaves nothing half-done. */
  throwIfClosed(): void {
    const now = this.now();
    if (this.closedAt(now)) throw new WindowClosedError(this.nextOpening(now));
  }

  /**
   * Closes the window for good: the agent is stopping. The sync then stops as at a window's
   * end (a consistent point, partial downloads kept) instead of finishing a capped download first.
   */
  shutDown(): void {
    this.shutting = true;
  }

  private closedAt(now: Date): boolean {
    if (this.shutting) return true;
    const configuration = this.configuration();
    if (!configuration) return false;
    // Infinity for a continuous schedule, so the usual answer is one comparison. Past the end,
    // look again: a later start may have opened a window overlapping the one that ended.
    if (configuration !== this.computedFor || now.getTime() >= this.closesAt) {
      this.closesAt = syncWindowEnd(configuration.schedule, configuration.syncWindow ?? undefined, now);
      this.computedFor = configuration;
    }
    return now.getTime() >= this.closesAt;
  }
}

/**
 * The WindowClosedError behind an error, if any: a push body cut by the window reaches its
 * caller wrapped by the HTTP client as a failed request (`cause`).
 */
export function windowClosedIn(error: unknown): WindowClosedError | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current instanceof WindowClosedError) return current;
  }
  return undefined;
}
