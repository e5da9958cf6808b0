/**
 * Garbage collection at the edge (issue 13, point 7): a collection over a data folder of
 * 10,000 blobs (half of them garbage: 1,000 untagged images of 5 blobs next to 1,000
 * tagged ones, in 20 repositories), its duration, and the p99 of whole-image pulls
 * (manifest by tag + its 5 blobs, 4 clients) while it runs against the same pulls idle.
 * The registry is the shared engine over the agent's guarded file stores with the agent's
 * collector (no auth), in this process with the pull clients: the same load in both phases.
 * The fixture is written through the stores (fsync and all). The peer is docker-registry's own
 * collector over the same shape of data (peerDistributionGc). Part of `npm run bench:edge`;
 * alone: `npm run build && node dist/bench/edge-gc.js`.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { anonymousAuthorizer } from "../shared/auth/authorizer.js";
import { formatBytes } from "../shared/domain/quantities.js";
import { startLocalHost } from "../shared/http/local-host.js";
import { ChangeLog } from "../shared/registry/change-log.js";
import { ContentPresence } from "../shared/registry/content-presence.js";
import { storeManifest } from "../shared/registry/manifests.js";
import { RunningHashes } from "../shared/registry/running-hashes.js";
import { createV2Handler } from "../shared/registry/v2-handler.js";
import type { RegistryContext } from "../shared/registry/context.js";
import { GarbageCollector } from "../edge-agent/src/gc/collector.js";
import { GuardedFsBlobStore, GuardedFsMetadataStore } from "../edge-agent/src/gc/guarded-stores.js";
import { UseTracker } from "../edge-agent/src/gc/use-tracker.js";
import { FsChangeStore } from "../edge-agent/src/store/fs-change-store.js";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { pushBlobMonolithic } from "./blobs.js";
import { startDistribution } from "./distribution.js";
import { call } from "./http.js";
import { formatGrid } from "./report.js";
import { percentile } from "./stats.js";

const REPOSITORIES = 20;
const IMAGES_PER_REPOSITORY = 100;
const LAYERS = 4;
const LAYER_BYTES = 2048;
const PULL_CLIENTS = 4;
const IDLE_MS = 4_000;
const WRITERS = 16;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const execFileAsync = promisify(execFile);
const DISTRIBUTION_BINARY = "/usr/bin/docker-registry";

export interface EdgeGcFigures {
  blobs: number;
  garbageBlobs: number;
  fixtureSeconds: number;
  dryRunSeconds: number;
  /** With no other load. */
  collectionSeconds: number;
  /** While 4 clients pulled as fast as they could. */
  collectionUnderPullsSeconds: number;
  freedBytes: number;
  removed: Record<string, number>;
  idle: { pulls: number; p50Ms: number; p99Ms: number };
  idleAfter: { pulls: number; p50Ms: number; p99Ms: number };
  during: { pulls: number; p50Ms: number; p99Ms: number };
  p99Ratio: number;
  /** docker-registry's offline collector over the same shape of data, same run. */
  distributionGc?: { seconds: number; blobsBefore: number; blobsAfter: number };
}

export async function benchEdgeGc(workDir: string, log: (message: string) => void): Promise<EdgeGcFigures> {
  const tracker = new UseTracker();
  const blobs = new GuardedFsBlobStore(workDir, tracker);
  const metadata = new GuardedFsMetadataStore(join(workDir, "metadata"), tracker);
  const changeStore = await FsChangeStore.open(join(workDir, "changes"));
  const contentPresence = new ContentPresence(blobs);
  const ctx: RegistryContext = {
    metadata,
    blobs,
    authorizer: anonymousAuthorizer,
    options: { blobDelivery: "stream" },
    runningHashes: new RunningHashes(),
    contentPresence,
    changes: new ChangeLog(changeStore, { graceMs: 30_000 }),
  };
  // Grace 0: the fixture was just written, and everything not tagged is to go.
  const collector = new GarbageCollector({ blobRoot: workDir, metadataRoot: join(workDir, "metadata"), blobs, metadata, tracker, contentPresence, graceMs: 0 });
  const host = await startLocalHost([{ name: "v2", route: "v2/{*path}", methods: ["GET", "HEAD"], handler: createV2Handler(ctx, () => undefined) }], [], {
    host: "127.0.0.1",
    port: 0,
    log: () => undefined,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: PULL_CLIENTS });
  try {
    log(`edge GC: writing ${REPOSITORIES * IMAGES_PER_REPOSITORY * (LAYERS + 1)} blobs (${REPOSITORIES * IMAGES_PER_REPOSITORY} images, half of them untagged) through the stores...`);
    const fixtureStart = performance.now();
    const tagged: Array<{ repository: string; tag: string }> = [];
    // Round 0 writes tagged and untagged images alike; round 1 only untagged ones (fresh garbage beside the kept half).
    const writeImages = async (round: number): Promise<void> => {
      const jobs: Array<() => Promise<void>> = [];
      for (let r = 0; r < REPOSITORIES; r++) {
        for (let i = 0; i < IMAGES_PER_REPOSITORY; i++) {
          const repository = `gc/repo${r}`;
          const keep = round === 0 && i % 2 === 0;
          if (round > 0 && i % 2 === 0) continue;
          const tag = keep ? `v${i}` : `tmp${round}-${i}`;
          if (keep) tagged.push({ repository, tag });
          jobs.push(() => writeImage(repository, tag, keep));
        }
      }
      await runLimited(jobs, WRITERS);
    };
    const writeImage = async (repository: string, tag: string, keep: boolean): Promise<void> => {
      const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", nonce: randomBytes(8).toString("hex") }));
      const layers = Array.from({ length: LAYERS }, () => randomBytes(LAYER_BYTES));
      for (const blob of [config, ...layers]) {
        const digest = sha256(blob);
        await blobs.writeContent(digest, blob);
        await metadata.putBlobLink(repository, { digest, size: blob.length });
      }
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
          layers: layers.map((layer) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256(layer), size: layer.length })),
        }),
      );
      await storeManifest(ctx, repository, manifest, OCI_MANIFEST, sha256(manifest), { tag });
      if (!keep) await metadata.deleteTag(repository, tag);
    };
    await writeImages(0);
    const fixtureSeconds = (performance.now() - fixtureStart) / 1000;
    // What the fixture touched is not "in use" for this measurement.
    tracker.prune(Number.POSITIVE_INFINITY);

    const pull = async (): Promise<number> => {
      const { repository, tag } = tagged[Math.floor(Math.random() * tagged.length)]!;
      const started = performance.now();
      const manifest = await call(new URL(`/v2/${repository}/manifests/${tag}`, host.url), { method: "GET", agent, timeoutMs: 30_000, headers: { accept: OCI_MANIFEST } });
      if (manifest.status !== 200) throw new Error(`pull of ${repository}:${tag} answered ${manifest.status}`);
      const parsed = JSON.parse(manifest.body.toString("utf8")) as { config: { digest: string }; layers: Array<{ digest: string }> };
      for (const digest of [parsed.config.digest, ...parsed.layers.map((l) => l.digest)]) {
        const blob = await call(new URL(`/v2/${repository}/blobs/${digest}`, host.url), { method: "GET", agent, timeoutMs: 30_000 });
        if (blob.status !== 200) throw new Error(`blob ${digest} of ${repository}:${tag} answered ${blob.status} during the collection`);
      }
      return performance.now() - started;
    };
    const pullWhile = async (running: () => boolean): Promise<number[]> => {
      const latencies: number[] = [];
      await Promise.all(Array.from({ length: PULL_CLIENTS }, async () => {
        while (running()) latencies.push(await pull());
      }));
      return latencies;
    };

    // The fixture's writes are flushed first, or the disk's writeback would slow the idle pulls.
    await execFileAsync("sync").catch(() => undefined);
    log(`edge GC: fixture written in ${fixtureSeconds.toFixed(1)} s; pulls idle (after a 1 s warm-up)...`);
    const warmEnd = performance.now() + 1000;
    await pullWhile(() => performance.now() < warmEnd);
    const idleEnd = performance.now() + IDLE_MS;
    const idle = await pullWhile(() => performance.now() < idleEnd);
    tracker.prune(Number.POSITIVE_INFINITY);

    const dry = await collector.collect({ dryRun: true });
    log(`edge GC: a dry run found ${dry.removed.blobs} blobs and ${dry.removed.manifests} manifests to remove (${formatBytes(dry.freedBytes)}) in ${(dry.durationMs / 1000).toFixed(2)} s; collecting under pulls...`);
    let collecting = true;
    const collection = collector.collect().finally(() => (collecting = false));
    const during = await pullWhile(() => collecting);
    const result = await collection;
    // Idle again after it, so a slow first idle phase cannot flatter the ratio: the faster idle p99 is the reference.
    await execFileAsync("sync").catch(() => undefined);
    const idleAfterEnd = performance.now() + IDLE_MS;
    const idleAfter = await pullWhile(() => performance.now() < idleAfterEnd);

    log("edge GC: writing another 5,000 garbage blobs beside the 5,000 kept, then collecting with no pulls...");
    await writeImages(1);
    tracker.prune(Number.POSITIVE_INFINITY);
    const quiet = await collector.collect();
    const peer = await peerDistributionGc(join(workDir, "distribution"), log).catch((error: unknown) => {
      log(`edge GC peer: docker-registry garbage-collect failed: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    });

    const stats = (values: number[]): { pulls: number; p50Ms: number; p99Ms: number } => {
      const array = Float64Array.from(values);
      return { pulls: values.length, p50Ms: percentile(array, array.length, 50), p99Ms: percentile(Float64Array.from(values), values.length, 99) };
    };
    const figures: EdgeGcFigures = {
      blobs: REPOSITORIES * IMAGES_PER_REPOSITORY * (LAYERS + 1),
      garbageBlobs: dry.removed.blobs,
      fixtureSeconds,
      dryRunSeconds: dry.durationMs / 1000,
      collectionSeconds: quiet.durationMs / 1000,
      collectionUnderPullsSeconds: result.durationMs / 1000,
      freedBytes: result.freedBytes,
      removed: { ...result.removed },
      idle: stats(idle),
      idleAfter: stats(idleAfter),
      during: stats(during),
      p99Ratio: 0,
      ...(peer ? { distributionGc: peer } : {}),
    };
    figures.p99Ratio = figures.during.p99Ms / Math.min(figures.idle.p99Ms, figures.idleAfter.p99Ms);
    const ms = (value: number): string => value.toFixed(1);
    log(
      `\n${formatGrid(
        ["edge GC (10,000 blobs)", "value", "note"],
        [
          ["collection, no load", `${figures.collectionSeconds.toFixed(2)} s`, `removed ${quiet.removed.blobs} blobs, ${quiet.removed.manifests} manifests, ${quiet.removed.links} links, ${formatBytes(quiet.freedBytes)}`],
          ["collection under pulls", `${figures.collectionUnderPullsSeconds.toFixed(2)} s`, `removed ${result.removed.blobs} blobs, ${result.removed.manifests} manifests, ${result.removed.links} links, ${formatBytes(result.freedBytes)}`],
          [
            "docker-registry garbage-collect",
            peer ? `${peer.seconds.toFixed(2)} s` : "n/a",
            peer ? `offline (registry stopped), --delete-untagged: blobs ${peer.blobsBefore} -> ${peer.blobsAfter}` : "docker-registry not installed",
          ],
          ["dry run", `${figures.dryRunSeconds.toFixed(2)} s`, "the walk alone"],
          ["pull p99 idle, before", `${ms(figures.idle.p99Ms)} ms`, `p50 ${ms(figures.idle.p50Ms)} ms, ${figures.idle.pulls} pulls of 6 requests`],
          ["pull p99 idle, after", `${ms(figures.idleAfter.p99Ms)} ms`, `p50 ${ms(figures.idleAfter.p50Ms)} ms, ${figures.idleAfter.pulls} pulls`],
          ["pull p99 during GC", `${ms(figures.during.p99Ms)} ms`, `p50 ${ms(figures.during.p50Ms)} ms, ${figures.during.pulls} pulls`],
          ["p99 during / idle", `${figures.p99Ratio.toFixed(2)}x`, `against the faster idle p99; goal <= 2x: ${figures.p99Ratio <= 2 ? "met" : "NOT met"}`],
        ],
      )}\n`,
    );
    return figures;
  } finally {
    agent.destroy();
    await host.close();
    await changeStore.close();
  }
}

/**
 * The peer: CNCF distribution's collector over the same shape of data (1,000 tagged and
 * 1,000 untagged images of 5 blobs in 20 repositories, pushed over HTTP), which must run with
 * the registry stopped: `docker-registry garbage-collect --delete-untagged`. Its duration.
 */
export async function peerDistributionGc(workDir: string, log: (message: string) => void): Promise<{ seconds: number; blobsBefore: number; blobsAfter: number } | undefined> {
  if (!existsSync(DISTRIBUTION_BINARY)) return undefined;
  const registry = await startDistribution(workDir);
  const agent = new Agent({ keepAlive: true, maxSockets: WRITERS });
  try {
    log("edge GC peer: pushing the same 10,000 blobs to docker-registry...");
    const jobs: Array<() => Promise<void>> = [];
    for (let r = 0; r < REPOSITORIES; r++) {
      for (let i = 0; i < IMAGES_PER_REPOSITORY; i++) {
        jobs.push(async () => {
          const repository = `gc/repo${r}`;
          const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", nonce: randomBytes(8).toString("hex") }));
          const layers = Array.from({ length: LAYERS }, () => randomBytes(LAYER_BYTES));
          for (const blob of [config, ...layers]) await pushBlobMonolithic(registry.baseUrl, repository, blob, agent);
          const manifest = Buffer.from(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: OCI_MANIFEST,
              config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
              layers: layers.map((layer) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256(layer), size: layer.length })),
            }),
          );
          // Untagged images are pushed by digest only: distribution cannot untag.
          const reference = i % 2 === 0 ? `v${i}` : sha256(manifest);
          const put = await call(new URL(`/v2/${repository}/manifests/${reference}`, registry.baseUrl), { method: "PUT", agent, timeoutMs: 30_000, headers: { "content-type": OCI_MANIFEST }, body: manifest });
          if (put.status !== 201) throw new Error(`docker-registry answered ${put.status} to a manifest PUT: ${put.body.toString("utf8").slice(0, 200)}`);
        });
      }
    }
    await runLimited(jobs, WRITERS);
  } finally {
    agent.destroy();
    await registry.stop();
  }
  const blobsDir = join(workDir, "storage", "docker", "registry", "v2", "blobs", "sha256");
  const countBlobs = async (): Promise<number> => {
    let count = 0;
    for (const prefix of await readdir(blobsDir)) count += (await readdir(join(blobsDir, prefix))).length;
    return count;
  };
  const blobsBefore = await countBlobs();
  await execFileAsync("sync").catch(() => undefined);
  const started = performance.now();
  await execFileAsync(DISTRIBUTION_BINARY, ["garbage-collect", "--delete-untagged", join(workDir, "config.yml")], { maxBuffer: 64 * 1024 * 1024 });
  const seconds = (performance.now() - started) / 1000;
  return { seconds, blobsBefore, blobsAfter: await countBlobs() };
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

async function runLimited(jobs: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < jobs.length) await jobs[next++]!();
  }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = await mkdtemp(join(tmpdir(), "edge-gc-bench-"));
  try {
    await benchEdgeGc(dir, (message) => console.log(message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
