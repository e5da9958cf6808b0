/**
 * The agent's durable state (state.json in the data folder): who it is, what its parent
 * told it, and how far it has synced. Written atomically, so a crash leaves the previous
 * state or the new one. Progress changes often, so it is flushed at most once a second;
 * everything else is written before the step that depends on it goes on.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { SyncTrigger } from "../../shared/domain/connected-registry/index.js";
import type { EdgeConfiguration } from "../../shared/sync/configuration.js";
import type { Condition } from "./conditions.js";
import type { GcSummary } from "./gc/report.js";
import { readJsonFile, writeFileAtomic } from "./store/atomic-file.js";

export type ActivationState = "NotActivated" | "Active" | "Deactivated";

export interface SyncProgress {
  phase: "idle" | "full-sync" | "feed" | "upstream";
  /** What is being fetched or pushed now. */
  current?: string;
  itemsDone: number;
  itemsTotal: number;
  bytesFetched: number;
  startedAt?: string;
}

export interface ChildState {
  instanceId?: string;
  activatedAt?: string;
  /** The child's configuration as the cloud last gave it (relayed through this agent). */
  configuration?: EdgeConfiguration;
  lastActivityTime?: string;
}

/** An object the edge could not sync and skipped (sync/failed-items.ts): a tag, a manifest, or a whole repository's listing. */
export interface FailedItem {
  repository: string;
  tag?: string;
  digest?: string;
  error: string;
  since: string;
  lastTried: string;
}

/** A local change the upstream push gave up on for now (sync/parked-upstream.ts): retried later, the entries behind it go on. */
export interface ParkedUpstream {
  seq: number;
  repository: string;
  kind: string;
  tag?: string;
  digest?: string;
  error: string;
  since: string;
  lastTried: string;
  /** Tries since it was parked: the wait before the next one doubles with each. */
  retries: number;
}

export interface EdgeState {
  /** Generated once per data folder: the parent tells two instances apart by it. */
  instanceId: string;
  connectedRegistryName?: string;
  activation: { status: ActivationState; activatedAt?: string; message?: string };
  configuration?: EdgeConfiguration;
  configurationReceivedAt?: string;
  /** Where the feed continues; absent until a full sync has completed. */
  cursor?: string;
  /** The cursor a full sync in progress started from; a restart continues that full sync (sync/walk-position.ts). */
  fullSyncFrom?: string;
  /** Repositories the full sync (or resync walk) in progress has finished: not walked again when it resumes (sync/walk-position.ts). */
  fullSyncWalked?: { basis: string; repositories: string[] };
  /** The walk of one repository in progress, and the tags it applied (sync/walk-position.ts). */
  walkPosition?: { repository: string; basis: string; tagsDone: string[] };
  /** Set while the agent waits outside its sync window: when the next one opens. */
  nextSyncWindow?: string;
  /** Repositories added to the scope whose existing tags have not been walked yet (the feed only brings new changes). */
  unwalkedRepositories?: string[];
  /** The last local change-log number already pushed to the parent (ReadWrite). */
  upstreamAfter: number;
  lastSyncTime?: string;
  lastError?: string;
  /** Objects skipped because they could not be synced; retried at later cycles. */
  failedItems?: FailedItem[];
  /** Upstream entries parked after repeated failures (ReadWrite); absent when none. */
  upstreamParked?: ParkedUpstream[];
  lastContactTime?: string;
  /** What is wrong now, by code (conditions.ts): shown in status and metrics, and sent to the parent. */
  conditions?: Condition[];
  /** The last resync request (configuration.resync) this edge carried out with a full walk. */
  lastResync?: string;
  /** What started the current or last sync (initial, scheduled, manual, cursorExpired), for the status report. */
  syncTrigger?: SyncTrigger;
  progress: SyncProgress;
  children: Record<string, ChildState>;
  /** The last garbage collection (gc/report.ts). */
  garbageCollection?: GcSummary;
}

export const STATE_FILE = "state.json";

export function initialState(): EdgeState {
  return {
    instanceId: randomUUID(),
    activation: { status: "NotActivated" },
    upstreamAfter: 0,
    progress: { phase: "idle", itemsDone: 0, itemsTotal: 0, bytesFetched: 0 },
    children: {},
  };
}

export async function readState(dataDir: string): Promise<EdgeState | undefined> {
  return readJsonFile<EdgeState>(join(dataDir, STATE_FILE));
}

export class StateFile {
  private writing: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  /** Told how each write ended (undefined: written); the disk guard keeps DISK_ERROR with it. */
  onWrite: ((error: unknown) => void) | undefined;

  private constructor(
    private readonly path: string,
    private current: EdgeState,
  ) {}

  static async open(dataDir: string): Promise<StateFile> {
    const path = join(dataDir, STATE_FILE);
    const stored = await readJsonFile<EdgeState>(path);
    const file = new StateFile(path, { ...initialState(), ...stored });
    if (!stored) await file.save();
    return file;
  }

  get state(): Readonly<EdgeState> {
    return this.current;
  }

  /** Changes the state and writes it before returning. */
  async update(change: (state: EdgeState) => void): Promise<void> {
    change(this.current);
    await this.save();
  }

  /** Changes progress-like fields; written within a second. */
  touch(change: (state: EdgeState) => void): void {
    change(this.current);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      void this.save().catch(() => {});
    }, 1000);
    this.flushTimer.unref();
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await this.save();
  }

  private save(): Promise<void> {
    // Writes are serialised so an older snapshot never lands after a newer one.
    const snapshot = JSON.stringify(this.current, null, 2);
    // The configuration holds password verifiers: readable by the agent's user only.
    this.writing = this.writing
      .catch(() => {})
      .then(() => writeFileAtomic(this.path, snapshot, 0o600))
      .then(
        () => this.onWrite?.(undefined),
        (error: unknown) => {
          this.onWrite?.(error);
          throw error;
        },
      );
    return this.writing;
  }
}
