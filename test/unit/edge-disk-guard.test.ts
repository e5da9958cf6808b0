/**
 * The edge's disk limits (edge-agent/src/store/disk-guard.ts) and its disk-error reporting
 * (disk-errors.ts), with the content store and the volume as small fakes: the sizes are the
 * test's to choose. A real full volume is in test/integration/edge-disk-limits.test.ts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../edge-agent/src/log.js";
import { Metrics } from "../../edge-agent/src/metrics.js";
import { StateFile } from "../../edge-agent/src/state.js";
import { DiskWriteError, asDiskWriteError, reportingWrites } from "../../edge-agent/src/store/disk-errors.js";
import { DiskGuard, StorageFullError, type DiskGuardOptions } from "../../edge-agent/src/store/disk-guard.js";

const KiB = 1024;
const digest = (n: number): string => `sha256:${String(n).padStart(64, "0")}`;

/** A content store holding `stored` bytes of the digests in `present`. */
function fakeBlobs(stored: number, present: string[] = []) {
  return {
    stored,
    present: new Set(present),
    async stat(d: string) {
      return this.present.has(d) ? 1 : undefined;
    },
    async totalBytes() {
      return this.stored;
    },
  };
}

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated`), { code });
}

describe("the disk guard", () => {
  let dir: string;
  let state: StateFile;
  let metrics: Metrics;
  const log = createLogger("none");

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "disk-guard-"));
    state = await StateFile.open(dir);
    metrics = new Metrics();
  });
  afterEach(async () => {
    await state.close();
    await rm(dir, { recursive: true, force: true });
  });

  const guard = (options: Partial<DiskGuardOptions> & Pick<DiskGuardOptions, "blobs">): DiskGuard =>
    new DiskGuard({ dataDir: dir, state, metrics, log, minFreeBytes: 0, storedRefreshMs: 0, volume: async () => ({ freeBytes: 1024 ** 4, totalBytes: 1024 ** 4 }), ...options });
  const conditions = (): string[] => (state.state.conditions ?? []).map((condition) => condition.code);

  it("counts what parallel fetches have reserved, so two cannot overshoot the budget together", async () => {
    const disk = guard({ blobs: fakeBlobs(4 * KiB), maxStorageBytes: 10 * KiB });
    const [first, second] = await Promise.allSettled([
      disk.reserve([{ digest: digest(1), size: 4 * KiB }], "image a"),
      disk.reserve([{ digest: digest(2), size: 4 * KiB }], "image b"),
    ]);
    expect(first.status).toBe("fulfilled");
    expect(second.status).toBe("rejected");
    const refusal = (second as PromiseRejectedResult).reason as StorageFullError;
    expect(refusal).toBeInstanceOf(StorageFullError);
    expect(refusal.status).toBe(507);
    expect(refusal.message).toMatch(/no room for image b \(4\.0 KiB\): the storage budget of 10\.0 KiB is reached \(4\.0 KiB stored, 4\.0 KiB reserved\)/);
    expect(conditions()).toEqual(["DISK_STORAGE_FULL"]);

    // Once the first download is done and released, its bytes are the store's, not a reservation.
    (first as PromiseFulfilledResult<{ release(): void }>).value.release();
    expect(await disk.hasRoom(4 * KiB)).toBe(true);
    expect(conditions()).toEqual([]);
  });

  it("counts a blob once: not when it is stored, not twice when two images share it, and checks nothing when nothing is missing", async () => {
    const blobs = fakeBlobs(10 * KiB, [digest(1)]);
    const disk = guard({ blobs, maxStorageBytes: 10 * KiB });
    // Over budget already, but an image whose blobs are all here needs no room.
    const nothing = await disk.reserve([{ digest: digest(1), size: 5 * KiB }], "stored image");
    nothing.release();
    blobs.stored = 2 * KiB;
    const a = await disk.reserve([{ digest: digest(2), size: 4 * KiB }], "a");
    const b = await disk.reserve([{ digest: digest(2), size: 4 * KiB }, { digest: digest(3), size: 4 * KiB }], "b");
    expect((await disk.diskStatus()).reservedBytes).toBe(8 * KiB);
    a.release();
    b.release();
    b.release();
    expect((await disk.diskStatus()).reservedBytes).toBe(0);
  });

  it("does not walk the store after every download: what landed since the last walk is added to it", async () => {
    const blobs = fakeBlobs(4 * KiB);
    let walks = 0;
    const counted = { stat: blobs.stat.bind(blobs), totalBytes: async () => (walks++, blobs.totalBytes()) };
    const disk = new DiskGuard({ dataDir: dir, state, metrics, log, minFreeBytes: 0, blobs: counted, maxStorageBytes: 10 * KiB, volume: async () => ({ freeBytes: 1024 ** 4, totalBytes: 1024 ** 4 }) });
    (await disk.reserve([{ digest: digest(1), size: 4 * KiB }], "a")).release();
    // The store was walked once (4 KiB); a's 4 KiB landed since: 8 KiB, so 4 KiB more do not fit.
    await expect(disk.reserve([{ digest: digest(2), size: 4 * KiB }], "b")).rejects.toBeInstanceOf(StorageFullError);
    expect(walks).toBe(1);
  });

  it("keeps the volume's free-space floor, and picks 5% of the volume (at most 1 GiB) when none is given", async () => {
    let free = 100 * KiB;
    const disk = guard({ blobs: fakeBlobs(0), minFreeBytes: 50 * KiB, volume: async () => ({ freeBytes: free, totalBytes: 1000 * KiB }) });
    await expect(disk.reserve([{ digest: digest(1), size: 60 * KiB }], "big")).rejects.toThrow(/the volume has 100\.0 KiB free .* must keep 50\.0 KiB \(--min-free-space\)/);
    (await disk.reserve([{ digest: digest(1), size: 40 * KiB }], "small")).release();
    free = 40 * KiB;
    await expect(disk.reserveBytes(0, "a push")).rejects.toBeInstanceOf(StorageFullError);

    const smallVolume = new DiskGuard({ dataDir: dir, state, metrics: new Metrics(), log, blobs: fakeBlobs(0), volume: async () => ({ freeBytes: 1, totalBytes: 8 * 1024 * KiB }) });
    expect(await smallVolume.minFree()).toBe(Math.floor(8 * 1024 * KiB * 0.05));
    const bigVolume = new DiskGuard({ dataDir: dir, state, metrics: new Metrics(), log, blobs: fakeBlobs(0), volume: async () => ({ freeBytes: 1, totalBytes: 1024 ** 4 }) });
    expect(await bigVolume.minFree()).toBe(1024 ** 3);
    // The real volume: statfs of the data folder.
    const real = new DiskGuard({ dataDir: dir, state, metrics: new Metrics(), log, blobs: fakeBlobs(0) });
    expect((await real.diskStatus()).freeBytes).toBeGreaterThan(0);
  });

  it("asks for one garbage collection when room runs out, and says there is room once it freed some", async () => {
    const blobs = fakeBlobs(9 * KiB);
    let collections = 0;
    const disk = guard({
      blobs,
      maxStorageBytes: 10 * KiB,
      collect: async () => {
        collections++;
        await new Promise((resolve) => setTimeout(resolve, 50));
        blobs.stored = 1 * KiB;
        return { freedBytes: 8 * KiB };
      },
    });
    const refused = await disk.reserve([{ digest: digest(1), size: 4 * KiB }], "image").catch((error: unknown) => error as StorageFullError);
    await disk.reserve([{ digest: digest(2), size: 4 * KiB }], "image 2").catch(() => undefined);
    expect(refused).toBeInstanceOf(StorageFullError);
    expect(collections).toBe(1);
    expect(conditions()).toEqual(["DISK_STORAGE_FULL"]);
    expect(await disk.hasRoom((refused as StorageFullError).needed)).toBe(false);
    await vi.waitFor(() => expect(blobs.stored).toBe(1 * KiB));
    expect(await disk.hasRoom((refused as StorageFullError).needed)).toBe(true);
    expect(conditions()).toEqual([]);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/connected_registry_storage_full_total\{for="sync"\} 2/);
    expect(text).toMatch(/connected_registry_storage_used_bytes 1024/);
    expect(text).toMatch(/connected_registry_storage_budget_bytes 10240/);
    expect(text).toMatch(/connected_registry_volume_free_bytes \d+/);
  });

  it("leaves the condition on after a cycle while the store is still over its budget, and clears it once it is not", async () => {
    const blobs = fakeBlobs(10 * KiB);
    const disk = guard({ blobs, maxStorageBytes: 10 * KiB });
    await expect(disk.reserveBytes(1, "a push")).rejects.toBeInstanceOf(StorageFullError);
    await disk.cycleCompleted();
    expect(conditions()).toEqual(["DISK_STORAGE_FULL"]);
    expect(await metrics.registry.metrics()).toMatch(/connected_registry_disk_condition\{code="DISK_STORAGE_FULL"\} 1/);
    blobs.stored = 5 * KiB;
    await disk.cycleCompleted();
    expect(conditions()).toEqual([]);
  });
});

describe("writes the volume refuses", () => {
  let dir: string;
  let state: StateFile;
  let metrics: Metrics;
  let disk: DiskGuard;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "disk-errors-"));
    state = await StateFile.open(dir);
    metrics = new Metrics();
    disk = new DiskGuard({ dataDir: dir, state, metrics, log: createLogger("none"), blobs: { stat: async () => undefined, totalBytes: async () => 0 }, minFreeBytes: 0 });
  });
  afterEach(async () => {
    await state.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A store whose write fails with whatever the test sets, as the fs calls under it would. */
  function failingStore() {
    const store = {
      failure: undefined as Error | undefined,
      writes: 0,
      async put(_name: string): Promise<string> {
        if (this.failure) throw this.failure;
        this.writes++;
        return "stored";
      },
      async get(): Promise<string> {
        throw errno("EIO");
      },
    };
    return { store, wrapped: reportingWrites(store, ["put"], "content", disk) };
  }

  it("turns ENOSPC into a 507 DiskWriteError and DISK_ERROR, EIO and EROFS into 500, and clears the condition when a write goes through", async () => {
    const { store, wrapped } = failingStore();
    store.failure = errno("ENOSPC");
    const full = await wrapped.put("a").catch((error: unknown) => error);
    expect(full).toBeInstanceOf(DiskWriteError);
    expect(full).toMatchObject({ status: 507, code: "UNKNOWN", area: "content", errno: "ENOSPC" });
    expect((full as Error).message).toMatch(/storage refused a write \(ENOSPC: no space left on the volume\); nothing partial was kept/);
    expect(state.state.conditions?.map((c) => [c.code, c.description])).toEqual([["DISK_ERROR", "content: ENOSPC: a write to the data folder's volume failed"]]);

    store.failure = errno("EIO");
    expect(await wrapped.put("a").catch((error: unknown) => error)).toMatchObject({ status: 500, errno: "EIO" });
    store.failure = errno("EROFS");
    expect(await wrapped.put("a").catch((error: unknown) => error)).toMatchObject({ status: 500, errno: "EROFS" });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/connected_registry_disk_errors_total\{area="content",errno="ENOSPC"\} 1/);
    expect(text).toMatch(/connected_registry_disk_errors_total\{area="content",errno="EIO"\} 1/);
    expect(text).toMatch(/connected_registry_disk_condition\{code="DISK_ERROR"\} 1/);

    store.failure = undefined;
    expect(await wrapped.put("a")).toBe("stored");
    expect(state.state.conditions).toEqual([]);
  });

  it("sees the read-only volume behind the ENOENT that Node's recursive mkdir reports there, and only there", async () => {
    const gone = Object.assign(errno("ENOENT"), { syscall: "mkdir", path: join(dir, "missing", "deeper") });
    // The folder above exists and takes writes: a plain ENOENT, passed on.
    expect(await asDiskWriteError(gone, "content", disk)).toBe(gone);
    expect(state.state.conditions ?? []).toEqual([]);
  });

  it("passes other errors through unchanged and leaves methods that only read alone", async () => {
    const { store, wrapped } = failingStore();
    const other = errno("ENOENT");
    store.failure = other;
    expect(await wrapped.put("a").catch((error: unknown) => error)).toBe(other);
    // A failing read is not a refused write.
    expect(await wrapped.get().catch((error: unknown) => (error as NodeJS.ErrnoException).code)).toBe("EIO");
    expect(state.state.conditions ?? []).toEqual([]);
  });

  it("reports a state file the volume refuses, and reports each failure once", async () => {
    state.onWrite = (error) => (error === undefined ? disk.succeeded("state") : void asDiskWriteError(error, "state", disk));
    state.onWrite(errno("ENOSPC"));
    const converted = await asDiskWriteError(errno("ENOSPC"), "metadata", disk);
    expect(await asDiskWriteError(converted, "metadata", disk)).toBe(converted);
    expect(await metrics.registry.metrics()).toMatch(/connected_registry_disk_errors_total\{area="metadata",errno="ENOSPC"\} 1/);
    expect(state.state.conditions?.[0]?.description).toBe("state: ENOSPC, metadata: ENOSPC: a write to the data folder's volume failed");
    // A real write of the state file goes through: the state area is cleared, metadata stays.
    await state.update(() => {});
    expect(state.state.conditions?.[0]?.description).toBe("metadata: ENOSPC: a write to the data folder's volume failed");
  });
});
