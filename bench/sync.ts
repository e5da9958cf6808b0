/**
 * The sync protocol's figures (issue: connected registries): with 10,000 tags in a
 * connected registry's scope, pushed through /v2/ so every one is in the change log,
 *   1. the cost of an empty sync: one feed read at an up-to-date cursor (requests, latency)
 *   2. feed reads per second (empty reads, 16 keep-alive connections, Basic sync-token auth)
 *   3. catching up: reading all 10,000 changes from the start, pages of 1,000
 * The registry runs in its own process (our-stack.ts). `npm run bench:sync` builds and runs it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, randomUUID } from "node:crypto";
import { parseConnectionString } from "../shared/domain/connected-registry/index.js";
import { decodeCursor, encodeCursor } from "../shared/sync/cursor.js";
import { generatePassword, hashPassword } from "../shared/auth/passwords.js";
import { startOurs } from "./our-stack.js";
import { median } from "./stats.js";

const REPOSITORIES = 100;
const TAGS_PER_REPOSITORY = 100;
const PUSH_CONCURRENCY = 16;
const EMPTY_SYNC_SAMPLES = 50;
const LOAD = { concurrency: 16, durationMs: 5_000, warmupMs: 500, maxRequests: 500_000 };
const SEED_BUDGET_MS = 240_000;

async function json(url: URL, init: RequestInit): Promise<any> {
  const response = await fetch(url, init);
  const text = await response.text();
  if (!response.ok) throw new Error(`${init.method ?? "GET"} ${url.pathname} answered ${response.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

export async function runSyncBench(): Promise<Record<string, number>> {
  const dataDir = await mkdtemp(join(tmpdir(), "bench-sync-"));
  const adminKey = generatePassword();
  const admin = { key: adminKey, hash: await hashPassword(adminKey) };
  const target = await startOurs("ours-sync", dataDir, { REGISTRY_ALLOW_ANONYMOUS: "false", ADMIN_KEY_HASH: admin.hash, CHANGE_FEED_GRACE_SECONDS: "10" });
  try {
    const base = target.baseUrl;
    const manage = (method: string, path: string, body?: unknown) =>
      json(new URL(`/management/${path}`, base), {
        method,
        headers: { Authorization: `Bearer ${admin.key}`, "Content-Type": "application/json" },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    const repositories = Array.from({ length: REPOSITORIES }, (_, i) => `bench/repo${i}`);
    await manage("POST", "tokens", { name: "benchpusher", scopeMap: "_repositories_admin" });
    const pusherPassword = (await manage("POST", "tokens/benchpusher/credentials/generate", { name: "password1" })).passwords[0].value as string;
    const pusher = `Basic ${Buffer.from(`benchpusher:${pusherPassword}`).toString("base64")}`;
    await manage("POST", "connectedRegistries", { name: "benchedge1", mode: "ReadOnly", repositories });
    const settings = await manage("POST", "connectedRegistries/benchedge1/settings", { parentProtocol: "http", generatePassword: 1 });
    const parsed = parseConnectionString(settings.connectionString);
    if (!parsed.ok) throw new Error(parsed.message);
    const sync = `Basic ${Buffer.from(`${parsed.settings.syncTokenName}:${parsed.settings.syncTokenPassword}`).toString("base64")}`;

    // One small image per repository, then every tag on it: 10,000 tag pushes through /v2/.
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const configDigest = `sha256:${createHash("sha256").update(config).digest("hex")}`;
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length }, layers: [] }),
    );
    const seedStart = performance.now();
    for (const repository of repositories) {
      await json(new URL(`/v2/${repository}/blobs/uploads/?digest=${configDigest}`, base), { method: "POST", headers: { Authorization: pusher }, body: config });
    }
    const pushes = repositories.flatMap((repository) => Array.from({ length: TAGS_PER_REPOSITORY }, (_, t) => ({ repository, tag: `v${t}` })));
    let next = 0;
    let retries = 0;
    await Promise.all(
      Array.from({ length: PUSH_CONCURRENCY }, async () => {
        for (let i = next++; i < pushes.length; i = next++) {
          if (performance.now() - seedStart > SEED_BUDGET_MS) throw new Error("seeding 10,000 tags took longer than the budget");
          const { repository, tag } = pushes[i]!;
          // As a client does: a 429 (the registry's change log is slow) is retried after Retry-After.
          for (let attempt = 0; ; attempt++) {
            const response = await fetch(new URL(`/v2/${repository}/manifests/${tag}`, base), {
              method: "PUT",
              headers: { Authorization: pusher, "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
              body: manifest,
            });
            await response.arrayBuffer();
            if (response.status === 201) break;
            if (response.status !== 429 || attempt >= 5) throw new Error(`PUT ${repository}:${tag} answered ${response.status}`);
            retries++;
            await new Promise((resolve) => setTimeout(resolve, 1000));
          }
        }
      }),
    );
    const seedSeconds = (performance.now() - seedStart) / 1000;

    const instance = randomUUID();
    const activation = await json(new URL("/sync/v1/connectedRegistries/benchedge1/activate", base), {
      method: "POST",
      headers: { Authorization: sync, "Content-Type": "application/json" },
      body: JSON.stringify({ instanceId: instance, protocolVersions: ["1"] }),
    });
    const feedUrl = (cursor: string, limit = 1000) => new URL(`/sync/v1/connectedRegistries/benchedge1/feed?cursor=${cursor}&instance=${instance}&limit=${limit}`, base);

    // 1. Empty syncs: one request each; the edge is up to date.
    const emptyLatencies: number[] = [];
    for (let i = 0; i < EMPTY_SYNC_SAMPLES; i++) {
      const started = performance.now();
      const page = await json(feedUrl(activation.cursor), { headers: { Authorization: sync } });
      emptyLatencies.push(performance.now() - started);
      if (page.changes.length !== 0 || page.more) throw new Error("the empty sync was not empty");
    }

    // 2. Feed reads per second: closed loop, 16 connections (fetch keeps them alive).
    const load = await closedLoop(feedUrl(activation.cursor), { Authorization: sync }, LOAD);

    // 3. Catching up on all 10,000 changes from the start of the log.
    // The start of the log, in the history the activation's cursor names.
    let cursor = encodeCursor("benchedge1", { epoch: decodeCursor(activation.cursor, "benchedge1").e, seq: 0 }, Date.now());
    let changes = 0;
    let requests = 0;
    const catchUpStart = performance.now();
    for (;;) {
      const page = await json(feedUrl(cursor), { headers: { Authorization: sync } });
      requests++;
      changes += page.changes.length;
      cursor = page.cursor;
      if (!page.more || requests > 100) break;
    }
    const catchUpSeconds = (performance.now() - catchUpStart) / 1000;

    const figures = {
      tagsInScope: pushes.length,
      seedRetries: retries,
      seedTagPushesPerSecond: pushes.length / seedSeconds,
      emptySyncRequests: 1,
      emptySyncMedianMs: median(emptyLatencies),
      emptySyncMaxMs: Math.max(...emptyLatencies),
      feedReadsPerSecond: load.requestsPerSecond,
      feedReadP50Ms: load.p50Ms,
      feedReadP99Ms: load.p99Ms,
      feedFailures: load.failures,
      catchUpChanges: changes,
      catchUpRequests: requests,
      catchUpSeconds,
    };
    console.log(`
sync protocol, ${pushes.length} tags in scope (pushed through /v2/ at ${figures.seedTagPushesPerSecond.toFixed(0)} tag pushes/s, ${retries} retried after 429)
  empty sync            1 request, median ${figures.emptySyncMedianMs.toFixed(1)} ms, max ${figures.emptySyncMaxMs.toFixed(1)} ms   (goal: one request, under 50 ms)
  feed reads            ${figures.feedReadsPerSecond.toFixed(0)} req/s, p50 ${figures.feedReadP50Ms.toFixed(1)} ms, p99 ${figures.feedReadP99Ms.toFixed(1)} ms (16 connections, ${figures.feedFailures} failures)
  catch-up              ${changes} changes in ${requests} requests, ${catchUpSeconds.toFixed(2)} s (${(changes / catchUpSeconds).toFixed(0)} changes/s)
`);
    return figures;
  } finally {
    await target.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Sends the same GET on `concurrency` loops for `durationMs` (after a warm-up), bounded in count. */
async function closedLoop(
  url: URL,
  headers: Record<string, string>,
  options: { concurrency: number; durationMs: number; warmupMs: number; maxRequests: number },
): Promise<{ requestsPerSecond: number; p50Ms: number; p99Ms: number; failures: number }> {
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) throw new Error(`refusing to load a non-loopback address: ${url.host}`);
  const latencies: number[] = [];
  let failures = 0;
  let requests = 0;
  const warmupEnds = performance.now() + options.warmupMs;
  const ends = warmupEnds + options.durationMs;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (performance.now() < ends && requests < options.maxRequests) {
        const started = performance.now();
        const response = await fetch(url, { headers });
        await response.arrayBuffer();
        if (response.status !== 200) failures++;
        if (started >= warmupEnds) {
          requests++;
          latencies.push(performance.now() - started);
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return { requestsPerSecond: requests / (options.durationMs / 1000), p50Ms: at(0.5), p99Ms: at(0.99), failures };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop()!)) {
  runSyncBench().catch((error: unknown) => {
    console.error(error instanceof Error ? error.stack : String(error));
    process.exit(1);
  });
}
