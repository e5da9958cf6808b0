/**
 * Garbage collection at the edge (edge-agent/src/gc): the collector over the real file
 * stores in a temp folder, with the shared registry engine serving them over HTTP. What is
 * "old" is made old by moving file times and link times back past the grace period.
 * Imports come from dist/ (run `npx tsc -p tsconfig.json` first).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, realpath, rm, stat, utimes, writeFile, mkdir } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FsBlobStore } from "../../dist/edge-agent/src/store/fs-blob-store.js";
import { FsChangeStore } from "../../dist/edge-agent/src/store/fs-change-store.js";
import { GarbageCollector } from "../../dist/edge-agent/src/gc/collector.js";
import { GcScheduler, effectiveGcSetting, DEFAULT_GC_SCHEDULE } from "../../dist/edge-agent/src/gc/schedule.js";
import { UseTracker } from "../../dist/edge-agent/src/gc/use-tracker.js";
import { GcMetrics } from "../../dist/edge-agent/src/gc/report.js";
import { imageManifest, pullProblems, pushLikeDocker, startGcRegistry, storeProblems, type GcRegistry } from "../support/edge-gc.js";
import { OCI_MANIFEST, sha256 } from "../support/registry-client.js";

const execFileAsync = promisify(execFile);
const HOUR = 3600_000;
const DAY = 24 * HOUR;

/**
 * Moves every file's time (and every link's usedAt) `ms` into the past, and lets the agent's
 * memory of uses lapse, as if that long had gone by.
 */
async function age(dir: string, ms: number, tracker?: GcRegistry["tracker"]): Promise<void> {
  tracker?.prune(Number.POSITIVE_INFINITY);
  const then = new Date(Date.now() - ms);
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if (path.includes(`${join("_layers")}`)) {
      const link = JSON.parse(await readFile(path, "utf8")) as { usedAt?: string };
      link.usedAt = then.toISOString();
      await writeFile(path, JSON.stringify(link));
    }
    await utimes(path, then, then);
  }
}

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function newImage(layerBytes = 4096, layers = 1): { config: Buffer; layers: Buffer[]; manifest: Buffer; digest: string } {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", nonce: randomBytes(8).toString("hex") }));
  const layerList = Array.from({ length: layers }, () => randomBytes(layerBytes));
  const manifest = imageManifest(config, layerList);
  return { config, layers: layerList, manifest, digest: sha256(manifest) };
}

async function push(edge: GcRegistry, repository: string, tag: string, image = newImage()): Promise<ReturnType<typeof newImage>> {
  expect(await pushLikeDocker(edge.client, repository, tag, [image.config, ...image.layers], image.manifest)).toBe(201);
  return image;
}

describe("edge garbage collection", () => {
  let dir: string;
  let edge: GcRegistry;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "edge-gc-"));
    edge = await startGcRegistry(dir, { graceMs: 60_000 });
  });
  afterEach(async () => {
    await edge.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("removes the old layers of a latest tag that moved, and keeps the new image whole", async () => {
    const v1 = await push(edge, "app", "latest", newImage(50_000));
    await age(dir, HOUR, edge.tracker);
    const v2 = await push(edge, "app", "latest", newImage(60_000));

    const result = await edge.collector.collect();

    expect(result.removed.manifests).toBe(1);
    expect(result.removed.blobs).toBe(2); // v1's config and layer
    expect(result.freedBytes).toBeGreaterThanOrEqual(50_000);
    expect(await edge.blobs.stat(sha256(v1.layers[0]!))).toBeUndefined();
    expect(await edge.metadata.getManifest("app", v1.digest)).toBeUndefined();
    expect(await edge.blobs.stat(sha256(v2.layers[0]!))).toBe(60_000);
    expect(await pullProblems(edge.client, "app", "latest")).toEqual([]);
    expect(await storeProblems(dir)).toEqual([]);
    // The old image is gone from the API too: its layer is unknown, not a 500.
    expect((await edge.client.getBlob("app", sha256(v1.layers[0]!))).status).toBe(404);
  });

  it("keeps a blob shared with another repository when one of them lets it go", async () => {
    const shared = randomBytes(30_000);
    const a = newImage();
    a.layers = [shared];
    a.manifest = imageManifest(a.config, a.layers);
    a.digest = sha256(a.manifest);
    await push(edge, "team/a", "v1", a);
    const b = newImage();
    b.layers = [shared];
    b.manifest = imageManifest(b.config, b.layers);
    await push(edge, "team/b", "v1", b);
    expect((await edge.client.fetch(`/v2/team/a/manifests/v1`, { method: "DELETE" })).status).toBe(202);
    await age(dir, HOUR, edge.tracker);

    const result = await edge.collector.collect();

    expect(result.removed.manifests).toBe(1);
    expect(result.removed.blobs).toBe(1); // a's config only
    expect(result.removed.links).toBe(2); // a's links to its config and to the shared layer
    expect(await edge.blobs.stat(sha256(shared))).toBe(30_000);
    expect(await edge.metadata.getBlobLink("team/a", sha256(shared))).toBeUndefined();
    expect(await pullProblems(edge.client, "team/b", "v1")).toEqual([]);
    expect(await storeProblems(dir)).toEqual([]);
  });

  it("keeps referrers of kept manifests and removes those of unreachable ones", async () => {
    const kept = await push(edge, "app", "v1");
    const signature = (subject: ReturnType<typeof newImage>): ReturnType<typeof newImage> => {
      const image = newImage(200);
      image.manifest = imageManifest(image.config, image.layers, {
        artifactType: "application/vnd.example.signature",
        subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length },
      });
      image.digest = sha256(image.manifest);
      return image;
    };
    const keptSignature = signature(kept);
    expect(await pushLikeDocker(edge.client, "app", keptSignature.digest, [keptSignature.config, ...keptSignature.layers], keptSignature.manifest)).toBe(201);
    const untagged = await push(edge, "app", "tmp");
    expect((await edge.client.fetch(`/v2/app/manifests/tmp`, { method: "DELETE" })).status).toBe(202);
    const orphanSignature = signature(untagged);
    expect(await pushLikeDocker(edge.client, "app", orphanSignature.digest, [orphanSignature.config, ...orphanSignature.layers], orphanSignature.manifest)).toBe(201);
    await age(dir, HOUR, edge.tracker);

    const result = await edge.collector.collect();

    expect(result.items.filter((i) => i.kind === "manifest").map((i) => i.name).sort()).toEqual([untagged.digest, orphanSignature.digest].sort());
    const referrers = (await (await edge.client.fetch(`/v2/app/referrers/${kept.digest}`)).json()) as { manifests: Array<{ digest: string }> };
    expect(referrers.manifests.map((m) => m.digest)).toEqual([keptSignature.digest]);
    expect(await pullProblems(edge.client, "app", keptSignature.digest)).toEqual([]);
    expect(await storeProblems(dir)).toEqual([]);
  });

  it("keeps the children of a tagged index, and removes an untagged index before its children", async () => {
    const platforms = [newImage(), newImage()];
    for (const p of platforms) await push(edge, "multi", p.digest, p);
    const index = (images: Array<ReturnType<typeof newImage>>): Buffer =>
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: images.map((p) => ({ mediaType: OCI_MANIFEST, digest: p.digest, size: p.manifest.length })) }));
    expect((await edge.client.putManifest("multi", "v1", index(platforms), "application/vnd.oci.image.index.v1+json")).status).toBe(201);
    const gone = [newImage(), newImage()];
    for (const p of gone) await push(edge, "multi", p.digest, p);
    const goneIndex = index(gone);
    expect((await edge.client.putManifest("multi", sha256(goneIndex), goneIndex, "application/vnd.oci.image.index.v1+json")).status).toBe(201);
    await age(dir, HOUR, edge.tracker);

    const result = await edge.collector.collect();

    const removed = result.items.filter((i) => i.kind === "manifest").map((i) => i.name);
    expect(removed[0]).toBe(sha256(goneIndex)); // the index first: a crash after it leaves no index missing a child
    expect(removed.slice(1).sort()).toEqual(gone.map((p) => p.digest).sort());
    for (const p of platforms) expect(await pullProblems(edge.client, "multi", p.digest)).toEqual([]);
    expect(await storeProblems(dir)).toEqual([]);
  });

  it("frees everything of a repository whose tags the sync removed when it left the scope", async () => {
    const images = [await push(edge, "old/app", "v1", newImage(100_000)), await push(edge, "old/app", "v2", newImage(100_000))];
    await push(edge, "kept", "v1");
    // What the sync engine does when a repository leaves the scope (ReadOnly): its tags go.
    for (const tag of ["v1", "v2"]) await edge.metadata.deleteTag("old/app", tag);
    await age(dir, HOUR, edge.tracker);

    const result = await edge.collector.collect();

    expect(result.removed.manifests).toBe(2);
    expect(result.removed.blobs).toBe(4);
    expect(result.freedBytes).toBeGreaterThanOrEqual(200_000);
    for (const image of images) expect(await edge.blobs.stat(sha256(image.layers[0]!))).toBeUndefined();
    expect(await edge.metadata.listManifests("old/app")).toEqual([]);
    expect(await pullProblems(edge.client, "kept", "v1")).toEqual([]);
  });

  it("lists in a dry run what a collection would remove, and removes nothing", async () => {
    await push(edge, "app", "latest", newImage(10_000));
    await age(dir, HOUR, edge.tracker);
    await push(edge, "app", "latest", newImage(10_000));
    const before = await files(dir);

    const dry = await edge.collector.collect({ dryRun: true });

    expect(await files(dir)).toEqual(before);
    expect(dry.dryRun).toBe(true);
    expect(dry.removed.manifests).toBe(1);
    expect(dry.removed.blobs).toBe(2);
    expect(dry.freedBytes).toBeGreaterThanOrEqual(10_000);
    const real = await edge.collector.collect();
    expect(real.freedBytes).toBe(dry.freedBytes);
    expect(real.items.map((i) => `${i.kind} ${i.name}`).sort()).toEqual(dry.items.map((i) => `${i.kind} ${i.name}`).sort());
  });

  it("spares what is younger than the grace period: a push whose manifest has not come yet", async () => {
    const layer = randomBytes(5000);
    const digest = await edge.client.pushBlob("app", layer);
    const result = await edge.collector.collect();
    expect(result.removed.blobs).toBe(0);
    expect(await edge.blobs.stat(digest)).toBe(5000);
  });

  it("removes abandoned partial downloads, upload sessions and staged blocks after a day, not before", async () => {
    const stalePartial = randomBytes(32).toString("hex");
    const freshPartial = randomBytes(32).toString("hex");
    await mkdir(join(dir, "partial"), { recursive: true });
    await writeFile(join(dir, "partial", stalePartial), randomBytes(1000));
    await writeFile(join(dir, "partial", freshPartial), randomBytes(1000));
    const upload = await edge.client.fetch(`/v2/app/blobs/uploads/`, { method: "POST" });
    const location = upload.headers.get("location")!;
    expect((await edge.client.fetch(location, { method: "PATCH", body: randomBytes(2000), headers: { "Content-Type": "application/octet-stream" } })).status).toBe(202);
    await age(dir, 2 * DAY, edge.tracker);
    // The upload session's own start time is in the record.
    const sessionFile = (await files(dir)).find((f) => f.includes("_uploads"))!;
    const session = JSON.parse(await readFile(sessionFile, "utf8")) as { startedAt: string };
    session.startedAt = new Date(Date.now() - 2 * DAY).toISOString();
    await writeFile(sessionFile, JSON.stringify(session));
    await utimes(join(dir, "partial", freshPartial), new Date(), new Date());

    const result = await edge.collector.collectLeftovers();

    expect(result.removed.partials).toBe(1);
    expect(result.removed.uploads).toBe(1);
    await expect(stat(join(dir, "partial", stalePartial))).rejects.toThrow();
    expect((await stat(join(dir, "partial", freshPartial))).size).toBe(1000);
    expect((await files(dir)).filter((f) => f.includes("_uploads") || f.includes(`${join(dir, "uploads")}`) || f.includes(join(dir, "staging")))).toEqual([]);
    expect((await edge.client.fetch(location)).status).toBe(404);
  });

  it("in ReadWrite, keeps what the upstream push has not carried to the parent yet", async () => {
    const image = await push(edge, "local/app", "v1", newImage(10_000));
    await edge.metadata.deleteTag("local/app", "v1"); // e.g. the repository left the scope
    await age(dir, HOUR, edge.tracker);
    let upstreamAfter = 0;
    const collector = new GarbageCollector({
      blobRoot: dir,
      metadataRoot: join(dir, "metadata"),
      blobs: edge.blobs,
      metadata: edge.metadata,
      tracker: edge.tracker,
      changes: { store: edge.changeStore, retentionMs: 90 * DAY, readWrite: () => true, upstreamAfter: () => upstreamAfter },
    });
    expect((await collector.collect()).removed).toMatchObject({ manifests: 0, blobs: 0 });
    expect(await pullProblems(edge.client, "local/app", image.digest)).toEqual([]);
    upstreamAfter = await edge.changeStore.latestSequence();
    await age(dir, HOUR, edge.tracker); // the pull just now counts as a use otherwise
    expect((await collector.collect()).removed).toMatchObject({ manifests: 1, blobs: 2 });
  });

  it("runs one collection at a time: a second caller shares the running one", async () => {
    await push(edge, "app", "v1");
    const [first, second] = await Promise.all([edge.collector.collect(), edge.collector.collect()]);
    expect(second).toBe(first);
  });
});

describe("the change log under collection", () => {
  it("drops entries past the retention only once the upstream push has read them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edge-gc-changes-"));
    try {
      const store = await FsChangeStore.open(dir);
      // All six are past the 2-day retention; the upstream push has read up to 4.
      for (let seq = 1; seq <= 6; seq++) {
        const createdAt = new Date(Date.now() - (12 - seq) * DAY).toISOString();
        await store.create({ seq, state: "committed", createdAt, repository: "app", kind: "tag.set", tag: `t${seq}`, digest: sha256(String(seq)) });
      }
      let upstreamAfter = 4;
      let readWrite = true;
      const collector = new GarbageCollector({
        blobRoot: dir,
        metadataRoot: join(dir, "metadata"),
        blobs: new FsBlobStore(dir),
        metadata: { listStaleUploads: async () => [] } as never,
        tracker: new UseTracker(),
        changes: { store, retentionMs: 2 * DAY, readWrite: () => readWrite, upstreamAfter: () => upstreamAfter },
      });
      expect((await collector.collectLeftovers()).removed.changes).toBe(4);
      expect((await store.readAfter(0, 100)).map((e) => e.seq)).toEqual([5, 6]);
      upstreamAfter = 5;
      readWrite = false; // ReadOnly: nothing goes up, the retention alone decides
      expect((await collector.collectLeftovers()).removed.changes).toBe(2);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the collection schedule", () => {
  it("defaults to on, daily at 03:00 UTC, when the parent sends no setting", () => {
    expect(effectiveGcSetting(undefined)).toEqual({ enabled: true, schedule: DEFAULT_GC_SCHEDULE });
    expect(DEFAULT_GC_SCHEDULE).toBe("0 3 * * *");
  });

  it("collects when the schedule comes due, and not when disabled", async () => {
    // A clock just before a minute boundary: "* * * * *" is due within ~100 ms.
    const offset = 60_000 - (Date.now() % 60_000) - 100;
    const now = () => Date.now() + offset;
    let runs = 0;
    const enabled = new GcScheduler(() => ({ enabled: true, schedule: "* * * * *" }), async () => void runs++, () => undefined, now);
    const disabled = new GcScheduler(() => ({ enabled: false, schedule: "* * * * *" }), async () => void (runs += 100), () => undefined, now);
    enabled.start();
    disabled.start();
    await new Promise((resolve) => setTimeout(resolve, 600));
    await enabled.stop();
    await disabled.stop();
    expect(runs).toBe(1);
  });

  it("says when the schedule cannot be used", () => {
    const warnings: string[] = [];
    const scheduler = new GcScheduler(() => ({ enabled: true, schedule: "every day" }), async () => undefined, (message) => warnings.push(message));
    scheduler.start();
    void scheduler.stop();
    expect(warnings).toEqual(["garbage collection schedule is not usable; collections are off until it is fixed"]);
  });
});

describe("connected-registry gc", () => {
  const CLI = resolve("dist/edge-agent/src/cli.js");
  const run = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args]);
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  it("lists what would go, refuses a real run beside a running agent, and collects once it is stopped", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edge-gc-cli-"));
    try {
      const edge = await startGcRegistry(dir);
      const old = await push(edge, "app", "latest", newImage(20_000));
      await edge.close();
      await writeFile(join(dir, "state.json"), JSON.stringify({ instanceId: "cli-test", activation: { status: "NotActivated" }, upstreamAfter: 0, progress: { phase: "idle", itemsDone: 0, itemsTotal: 0, bytesFetched: 0 }, children: {} }));
      await age(dir, HOUR);
      const edge2 = await startGcRegistry(dir);
      await push(edge2, "app", "latest", newImage(1000));
      await edge2.close();
      const before = await files(dir);

      // An agent holds the folder (this test process stands in for it).
      await writeFile(join(dir, "agent.lock"), JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), dataDir: await realpath(dir) }));
      const refused = await run("gc", "--data", dir);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`is in use by a running agent (pid ${process.pid}`);
      expect(refused.stderr).toContain("stop the agent first; `gc --dry-run` works beside it");
      const beside = await run("gc", "--data", dir, "--dry-run");
      expect(beside.code).toBe(0);
      expect(beside.stdout).toMatch(new RegExp(`manifest +[0-9.]+ (B|KiB)  app@${old.digest}`));
      expect(beside.stdout).toMatch(/blob +19\.5 KiB  sha256:/);
      expect(beside.stdout).toContain("would remove");
      expect(beside.stdout).toContain("change log not examined");
      expect(beside.stdout).toContain("an agent is running on this folder");
      await rm(join(dir, "agent.lock"));
      expect(await files(dir)).toEqual(before);

      const done = await run("gc", "--data", dir);
      expect(done.code).toBe(0);
      expect(done.stdout).toMatch(/^removed [0-9.]+ KiB: 2 blobs, 1 manifests, 2 repository links/m);
      expect(await storeProblems(dir)).toEqual([]);
      const status = await run("status", "--data", dir);
      expect(status.stdout).toMatch(/last collection: +\S+, freed [0-9.]+ KiB \(2 blobs, 1 manifests/);
      const json = JSON.parse((await run("status", "--data", dir, "--output", "json")).stdout) as { garbageCollection: { removed: { blobs: number } } };
      expect(json.garbageCollection.removed.blobs).toBe(2);
      expect((await run("gc", "--data", join(dir, "nope"))).stderr).toContain("no agent state in");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the collection in /metrics", () => {
  it("counts runs, freed bytes and removals by kind, and the last run's time and duration", async () => {
    const registry = new Registry();
    const metrics = new GcMetrics(registry);
    metrics.record({ dryRun: false, startedAt: "2026-12-01T03:00:00.000Z", durationMs: 1500, freedBytes: 4096, removed: { blobs: 3, manifests: 1, links: 3, partials: 0, uploads: 0, stagedBlocks: 0, tempFiles: 0, changes: 0 }, spared: 0, changesExamined: true, items: [] });
    const text = await registry.metrics();
    expect(text).toContain("connected_registry_gc_runs_total 1");
    expect(text).toContain("connected_registry_gc_freed_bytes_total 4096");
    expect(text).toContain('connected_registry_gc_removed_total{kind="blobs"} 3');
    expect(text).toContain(`connected_registry_gc_last_run_timestamp_seconds ${Date.parse("2026-12-01T03:00:00.000Z") / 1000}`);
    expect(text).toContain("connected_registry_gc_last_duration_seconds 1.5");
  });
});
