/**
 * The edge's disk limits (docs/edge-agent.md "Disk limits"): a storage budget for the content
 * store (`--max-storage`) and a free-space floor on the volume (`--min-free-space`).
 *
 * Room is reserved before bytes are fetched: the sync asks for an image's missing blobs (the
 * manifest gives their sizes) and a push for its Content-Length. Checks run one at a time and
 * count what earlier reservations still hold, so parallel downloads cannot overshoot together.
 * When there is no room the caller gets a StorageFullError, DISK_STORAGE_FULL is set, and a
 * garbage collection is asked for; the sync loop then waits until `hasRoom` says yes.
 *
 * It also keeps DISK_ERROR: the stores report writes the volume refused (disk-errors.ts), and
 * the condition lasts until a write in the same area goes through again.
 */
import { statfs } from "node:fs/promises";
import { Counter, Gauge } from "prom-client";
import { formatBytes } from "../../../shared/domain/quantities.js";
import { RegistryError } from "../../../shared/domain/registry-errors.js";
import { withCondition, withoutCondition, type ConditionCode } from "../conditions.js";
import { errorText, type Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { StateFile } from "../state.js";
import type { WriteArea, WriteObserver } from "./disk-errors.js";

/** The default floor: this share of the volume, at most DEFAULT_FLOOR_CAP (small volumes keep a small floor). */
const DEFAULT_FLOOR_SHARE = 0.05;
const DEFAULT_FLOOR_CAP = 1024 ** 3;
/**
 * How long a walk of the content store is trusted. Walking 10,000 blobs takes about 0.4 s of
 * stat calls on the thread pool that also serves pulls, so it is not redone after every
 * download: the bytes of reservations released since the walk are added to it instead (a
 * failed fetch counted until the next walk: the estimate errs towards "full", never over).
 */
const STORED_REFRESH_MS = 10_000;
/** A collection asked for because room ran out starts at most this often (one that freed nothing is not rerun at once). */
const COLLECT_MIN_INTERVAL_MS = 60_000;

export interface VolumeSpace {
  freeBytes: number;
  totalBytes: number;
}

export interface DiskGuardOptions {
  dataDir: string;
  /** The content store's budget in bytes; none: only the floor applies. */
  maxStorageBytes?: number;
  /** Free bytes the volume must keep; undefined: the default (5% of the volume, at most 1 GiB). 0 turns the floor off. */
  minFreeBytes?: number;
  /** The content store: what is present, and how much it holds. */
  blobs: { stat(digest: string): Promise<number | undefined>; totalBytes(): Promise<number> };
  state: StateFile;
  metrics: Metrics;
  log: Logger;
  /** Runs a garbage collection (the collector, wired by the agent); asked for when room runs out. */
  collect?: () => Promise<{ freedBytes: number }>;
  /** How long a walk of the content store is trusted (tests set 0); STORED_REFRESH_MS by default. */
  storedRefreshMs?: number;
  /** The volume's space (tests); statfs of dataDir by default. */
  volume?: () => Promise<VolumeSpace>;
}

/** What `diskStatus()` reports (GET /status, the heartbeat's usage, tests). */
export interface DiskStatus {
  storedBytes: number;
  maxStorageBytes?: number;
  freeBytes: number;
  minFreeBytes: number;
  reservedBytes: number;
  full: boolean;
  diskErrors: Array<{ area: WriteArea; errno: string }>;
}

/** Bytes held for fetches and pushes in progress; `release` gives them back (once). */
export interface Room {
  release(): void;
}

/** No room for what was asked: nothing was fetched or written. Rendered as 507 if it reaches a client. */
export class StorageFullError extends RegistryError {
  constructor(
    message: string,
    /** The bytes that did not fit (0: already over the limit). */
    readonly needed: number,
  ) {
    super("UNKNOWN", message, { status: 507 });
    this.name = "StorageFullError";
  }
}

export class DiskGuard implements WriteObserver {
  /** Reserved bytes by key (a blob digest, or a push's own key), so one blob is counted once. */
  private readonly reserved = new Map<string, number>();
  private reservedTotal = 0;
  private nextPushKey = 0;
  /** Reservation checks run one at a time: two cannot both see the same room. */
  private checking: Promise<unknown> = Promise.resolve();
  private floor: number | undefined;
  private collect: (() => Promise<{ freedBytes: number }>) | undefined;
  private collecting: Promise<void> | undefined;
  private lastCollectAt = 0;
  /** Bytes of every released reservation, ever; a walk remembers the total it started at. */
  private landed = 0;
  private walked: { bytes: number; at: number; landedAtStart: number } | undefined;
  /** Areas whose last write failed with a disk error, and how. */
  private readonly failing = new Map<WriteArea, string>();
  private readonly refusals: Counter<"for">;
  private readonly diskErrors: Counter<"area" | "errno">;

  constructor(private readonly options: DiskGuardOptions) {
    this.collect = options.collect;
    const registers = [options.metrics.registry];
    this.refusals = new Counter({ name: "connected_registry_storage_full_total", help: "Fetches and pushes refused for lack of room (budget or free-space floor)", labelNames: ["for"], registers });
    this.diskErrors = new Counter({ name: "connected_registry_disk_errors_total", help: "Writes the volume refused (ENOSPC, EDQUOT, EIO, EROFS), by store area", labelNames: ["area", "errno"], registers });
    // Gauges are read when scraped: the store's size and the volume's free space change by themselves.
    const gauge = (name: string, help: string, value: () => number | Promise<number>): void => {
      new Gauge({ name, help, registers, collect: async function (this: Gauge) { this.set(await value()); } });
    };
    gauge("connected_registry_storage_used_bytes", "Bytes in the content store", () => options.blobs.totalBytes());
    const budget = options.maxStorageBytes;
    if (budget !== undefined) gauge("connected_registry_storage_budget_bytes", "The content store's budget (--max-storage)", () => budget);
    gauge("connected_registry_storage_reserved_bytes", "Bytes reserved by fetches and pushes in progress", () => this.reservedTotal);
    gauge("connected_registry_volume_free_bytes", "Free bytes on the data folder's volume", async () => (await this.volume()).freeBytes);
    gauge("connected_registry_volume_min_free_bytes", "The free-space floor (--min-free-space)", () => this.minFree());
    const hasCondition = (code: ConditionCode): boolean => this.hasCondition(code);
    new Gauge({
      name: "connected_registry_disk_condition",
      help: "1 while the disk condition is on (DISK_STORAGE_FULL, DISK_ERROR)",
      labelNames: ["code"],
      registers,
      collect: function (this: Gauge<"code">) {
        for (const code of ["DISK_STORAGE_FULL", "DISK_ERROR"] as const) this.set({ code }, hasCondition(code) ? 1 : 0);
      },
    });
  }

  /** The collection to ask for when room runs out, when the collector is made after the guard (it needs the guarded stores). */
  collectWith(collect: () => Promise<{ freedBytes: number }>): void {
    this.collect = collect;
  }

  /**
   * Room for the blobs an image needs (those not in the store yet and not already reserved by
   * another fetch). Throws StorageFullError when they do not fit.
   */
  async reserve(blobs: ReadonlyArray<{ digest: string; size?: number }>, what: string): Promise<Room> {
    const candidates = blobs.filter((blob): blob is { digest: string; size: number } => blob.size !== undefined && blob.size > 0 && !this.reserved.has(blob.digest));
    // Looked up together, not one after another: each is a trip through libuv's pool, and an
    // image's first download waits for all of them (hold() checks `reserved` again anyway).
    const stored = await Promise.all(candidates.map((blob) => this.options.blobs.stat(blob.digest)));
    const missing = candidates.filter((_, i) => stored[i] === undefined).map((blob): [string, number] => [blob.digest, blob.size]);
    // Nothing to download: tags and manifests of content already here are no reason to stop.
    if (missing.length === 0) return { release: () => {} };
    return this.hold(missing, what, "sync");
  }

  /** Room for a push of `bytes` (its Content-Length; 0 when unknown: then only "not over the limit" is checked). */
  async reserveBytes(bytes: number, what: string): Promise<Room> {
    return this.hold([[`push:${this.nextPushKey++}`, bytes]], what, "push");
  }

  /** Whether `bytes` more would fit now; when they do, DISK_STORAGE_FULL is cleared. */
  async hasRoom(bytes: number): Promise<boolean> {
    const short = await this.shortage(bytes);
    if (!short) this.clearFull();
    return short === undefined;
  }

  /** A sync cycle went through without running out of room: the condition goes unless the store is over its limits anyway. */
  async cycleCompleted(): Promise<void> {
    if (this.hasCondition("DISK_STORAGE_FULL")) await this.hasRoom(0);
  }

  failed(area: WriteArea, errno: string, error: unknown): void {
    this.diskErrors.inc({ area, errno });
    const known = this.failing.get(area);
    this.failing.set(area, errno);
    if (known !== errno) this.options.log.error("the volume refused a write: nothing partial was kept; serving what is stored goes on", { area, errno, error: errorText(error) });
    this.setCondition("DISK_ERROR", this.diskErrorDescription());
  }

  succeeded(area: WriteArea): void {
    if (this.failing.size === 0 || !this.failing.delete(area)) return;
    this.options.log.info("the volume takes writes again", { area });
    if (this.failing.size === 0) this.clearCondition("DISK_ERROR");
    else this.setCondition("DISK_ERROR", this.diskErrorDescription());
  }

  private diskErrorDescription(): string {
    return `${[...this.failing].map(([area, errno]) => `${area}: ${errno}`).join(", ")}: a write to the data folder's volume failed`;
  }

  async diskStatus(): Promise<DiskStatus> {
    const [storedBytes, volume, minFreeBytes] = await Promise.all([this.options.blobs.totalBytes(), this.volume(), this.minFree()]);
    return {
      storedBytes,
      ...(this.options.maxStorageBytes !== undefined ? { maxStorageBytes: this.options.maxStorageBytes } : {}),
      freeBytes: volume.freeBytes,
      minFreeBytes,
      reservedBytes: this.reservedTotal,
      full: this.hasCondition("DISK_STORAGE_FULL"),
      diskErrors: [...this.failing].map(([area, errno]) => ({ area, errno })),
    };
  }

  /** The floor in bytes: as given, or the default from the volume's size (worked out once). */
  async minFree(): Promise<number> {
    if (this.options.minFreeBytes !== undefined) return this.options.minFreeBytes;
    this.floor ??= Math.min(DEFAULT_FLOOR_CAP, Math.floor((await this.volume()).totalBytes * DEFAULT_FLOOR_SHARE));
    return this.floor;
  }

  private hold(entries: Array<[string, number]>, what: string, purpose: "sync" | "push"): Promise<Room> {
    const check = async (): Promise<Room> => {
      const fresh = entries.filter(([key]) => !this.reserved.has(key));
      const bytes = fresh.reduce((sum, [, size]) => sum + size, 0);
      const short = await this.shortage(bytes);
      if (short) {
        this.refusals.inc({ for: purpose });
        this.setCondition("DISK_STORAGE_FULL", `${short}: no new content is fetched or pushed until there is room`);
        this.requestCollection();
        throw new StorageFullError(`no room for ${what} (${formatBytes(bytes)}): ${short}`, bytes);
      }
      for (const [key, size] of fresh) {
        this.reserved.set(key, size);
        this.reservedTotal += size;
      }
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          for (const [key, size] of fresh) {
            if (this.reserved.delete(key)) {
              this.reservedTotal -= size;
              this.landed += size;
            }
          }
        },
      };
    };
    const result = this.checking.then(check, check);
    this.checking = result.catch(() => undefined);
    return result;
  }

  /** Why `bytes` more would not fit (counting reservations), or undefined when they would. */
  private async shortage(bytes: number): Promise<string | undefined> {
    const { maxStorageBytes } = this.options;
    if (maxStorageBytes !== undefined) {
      const stored = await this.storedBytes();
      const wanted = stored + this.reservedTotal + bytes;
      // "Over the limit" when nothing more is asked: a store exactly at its budget is full.
      if (bytes === 0 ? wanted >= maxStorageBytes : wanted > maxStorageBytes) {
        return `the storage budget of ${formatBytes(maxStorageBytes)} is reached (${formatBytes(stored)} stored, ${formatBytes(this.reservedTotal)} reserved)`;
      }
    }
    const floor = await this.minFree();
    if (floor > 0 || bytes > 0) {
      const { freeBytes } = await this.volume();
      const left = freeBytes - this.reservedTotal - bytes;
      if (bytes === 0 ? left <= floor : left < floor) {
        return `the volume has ${formatBytes(freeBytes)} free (${formatBytes(this.reservedTotal)} reserved), and must keep ${formatBytes(floor)} (--min-free-space)`;
      }
    }
    return undefined;
  }

  /** The content store's bytes: the last walk, plus what landed since it started. */
  private async storedBytes(): Promise<number> {
    const refreshMs = this.options.storedRefreshMs ?? STORED_REFRESH_MS;
    if (!this.walked || Date.now() - this.walked.at >= refreshMs) {
      const landedAtStart = this.landed;
      this.walked = { bytes: await this.options.blobs.totalBytes(), at: Date.now(), landedAtStart };
    }
    return this.walked.bytes + this.landed - this.walked.landedAtStart;
  }

  private async volume(): Promise<VolumeSpace> {
    if (this.options.volume) return this.options.volume();
    const stats = await statfs(this.options.dataDir);
    return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
  }

  /** Starts a collection unless one runs or one started recently; the sync loop sees the room it made. */
  private requestCollection(): void {
    const { log } = this.options;
    const collect = this.collect;
    if (!collect || this.collecting || Date.now() - this.lastCollectAt < COLLECT_MIN_INTERVAL_MS) return;
    this.lastCollectAt = Date.now();
    log.info("out of room: running a garbage collection");
    this.collecting = collect()
      .then(({ freedBytes }) => log.info("the garbage collection asked for by the disk limits finished", { freedBytes }))
      .catch((error: unknown) => log.error("the garbage collection asked for by the disk limits failed", { error: errorText(error) }))
      .finally(() => {
        // What it deleted is seen by the next check.
        this.walked = undefined;
        this.collecting = undefined;
      });
  }

  private hasCondition(code: ConditionCode): boolean {
    return (this.options.state.state.conditions ?? []).some((condition) => condition.code === code);
  }

  // Conditions change in memory at once (GET /status shows them) and reach the file within a
  // second: a DISK_ERROR may be about the state file itself, so nothing here waits for a write.
  private setCondition(code: ConditionCode, description: string): void {
    const known = this.options.state.state.conditions?.find((condition) => condition.code === code);
    if (known?.description === description) return;
    if (!known) this.options.log.warn(code === "DISK_STORAGE_FULL" ? "storage full: fetching and pushing new content pause; pulls go on" : "disk error reported", { description });
    this.options.state.touch((s) => {
      s.conditions = withCondition(s.conditions, code, description);
    });
  }

  private clearFull(): void {
    if (!this.hasCondition("DISK_STORAGE_FULL")) return;
    this.options.log.info("there is room again: fetching resumes");
    this.clearCondition("DISK_STORAGE_FULL");
  }

  private clearCondition(code: ConditionCode): void {
    if (!this.hasCondition(code)) return;
    this.options.state.touch((s) => {
      s.conditions = withoutCondition(s.conditions, code);
    });
  }
}
