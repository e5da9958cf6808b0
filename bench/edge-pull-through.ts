/**
 * Pull-through on a miss at the edge (issue 15, point 3), on loopback: a 100 MiB image
 * (config + one 100 MiB layer) pushed to the cloud (our local stack, auth on) after the edge
 * activated outside its sync window, so the edge does not have it. A pull is the manifest GET
 * then every blob GET, bytes hashed, Basic auth sent straight to /v2/; three ways, per image,
 * in this order:
 *   miss    the first pull at the edge: the manifest GET waits while the edge fetches the
 *           whole image from the cloud and stores it verified; the blobs are then local
 *   parent  the same pull straight from the cloud (blobs redirected to Azurite)
 *   stored  the same pull at the edge again, now served from its store
 * Medians over RUNS images. `npm run bench` runs it after the other parts (BENCH_ONLY=pull-through
 * for this part alone); `node dist/bench/edge-pull-through.js` runs it standalone.
 */
import { randomBytes, randomFillSync } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { Agent, type OutgoingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pullBlob, pushBlobMonolithic } from "./blobs.js";
import { startEdgeAgent, type EdgeAgentProcess } from "./edge-process.js";
import { call, expectStatus, management } from "./http.js";
import { makeAdminKey } from "./identity.js";
import { OCI_MANIFEST } from "./manifests.js";
import { startOurs } from "./our-stack.js";
import { median, MIB } from "./stats.js";
import type { Target } from "./target.js";

const LAYER_BYTES = 100 * MIB;
const RUNS = 3;
const REPOSITORY = "bench/pull-through";
const TIMEOUT_MS = 120_000;

export interface PullThroughFigures {
  imageBytes: number;
  runs: number;
  /** Seconds per whole pull (manifest + blobs), each run. */
  missSeconds: number[];
  parentSeconds: number[];
  storedSeconds: number[];
  median: { miss: number; parent: number; stored: number };
}

const basic = (username: string, password: string): string => `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;

/** Manifest GET then each blob GET (hashed, redirects followed); seconds for the whole. */
async function pull(base: URL, tag: string, headers: OutgoingHttpHeaders, agent: Agent): Promise<number> {
  const t0 = performance.now();
  const manifest = await call(new URL(`/v2/${REPOSITORY}/manifests/${tag}`, base), { method: "GET", agent, timeoutMs: TIMEOUT_MS, headers: { ...headers, accept: OCI_MANIFEST } });
  expectStatus(manifest, 200, `manifest GET ${tag} at ${base.origin}`);
  const parsed = JSON.parse(manifest.body.toString("utf8")) as { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> };
  for (const blob of [parsed.config, ...parsed.layers]) await pullBlob(base, REPOSITORY, blob.digest, blob.size, agent, headers);
  return (performance.now() - t0) / 1000;
}

export async function runEdgePullThrough(workDir: string, log: (line: string) => void): Promise<PullThroughFigures> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const started: Array<Target | EdgeAgentProcess> = [];
  try {
    const admin = await makeAdminKey();
    const cloud = await startOurs("cloud", join(workDir, "pt-cloud"), { REGISTRY_ALLOW_ANONYMOUS: "false", ADMIN_KEY_HASH: admin.hash });
    started.push(cloud);
    const manage = management(cloud.baseUrl, admin.key);
    await manage("POST", "tokens", { name: "ptpusher", scopeMap: "_repositories_admin" });
    const pusher = { authorization: basic("ptpusher", (await manage("POST", "tokens/ptpusher/credentials/generate", { name: "password1" })).passwords[0].value as string) };
    await manage("POST", "scopeMaps", { name: "pt-read", actions: [`repositories/${REPOSITORY}/content/read`, `repositories/${REPOSITORY}/metadata/read`] });
    await manage("POST", "tokens", { name: "ptreader", scopeMap: "pt-read" });
    const reader = { authorization: basic("ptreader", (await manage("POST", "tokens/ptreader/credentials/generate", { name: "password1" })).passwords[0].value as string) };
    // A daily one-hour window that closed an hour ago: the edge activates, then never syncs.
    const opened = new Date(Date.now() - 2 * 3600_000);
    await manage("POST", "connectedRegistries", { name: "benchpullthrough", mode: "ReadOnly", repositories: [REPOSITORY], clientTokens: ["ptreader"], schedule: `${opened.getUTCMinutes()} ${opened.getUTCHours()} * * *`, syncWindow: "PT1H" });
    const connectionString = (await manage("POST", "connectedRegistries/benchpullthrough/settings", { parentProtocol: "http", generatePassword: 1 })).connectionString as string;
    const dataDir = join(workDir, "pt-edge");
    await mkdir(dataDir, { recursive: true });
    const edge = await startEdgeAgent({ connectionString, dataDir });
    started.push(edge);
    const activeBy = Date.now() + 30_000;
    while ((await edge.status())?.activation?.status !== "Active") {
      if (Date.now() > activeBy) throw new Error(`the edge did not activate: ${edge.lastLogs()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    log(`pushing ${RUNS} images of ${LAYER_BYTES / MIB} MiB to the cloud...`);
    const layer = Buffer.allocUnsafe(LAYER_BYTES);
    for (let i = 0; i < RUNS; i++) {
      const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") }));
      const configDigest = await pushBlobMonolithic(cloud.baseUrl, REPOSITORY, config, agent, pusher);
      randomFillSync(layer);
      const layerDigest = await pushBlobMonolithic(cloud.baseUrl, REPOSITORY, layer, agent, pusher);
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest, size: LAYER_BYTES }] }));
      const put = await call(new URL(`/v2/${REPOSITORY}/manifests/img${i}`, cloud.baseUrl), { method: "PUT", agent, timeoutMs: TIMEOUT_MS, headers: { ...pusher, "content-type": OCI_MANIFEST }, body: manifest });
      expectStatus(put, 201, `PUT img${i}`);
    }

    const missSeconds: number[] = [];
    const parentSeconds: number[] = [];
    const storedSeconds: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      missSeconds.push(await pull(edge.baseUrl, `img${i}`, reader, agent));
      parentSeconds.push(await pull(cloud.baseUrl, `img${i}`, pusher, agent));
      storedSeconds.push(await pull(edge.baseUrl, `img${i}`, reader, agent));
      log(`  img${i}: miss ${missSeconds[i]!.toFixed(2)} s, parent ${parentSeconds[i]!.toFixed(2)} s, stored ${storedSeconds[i]!.toFixed(2)} s`);
    }
    return {
      imageBytes: LAYER_BYTES,
      runs: RUNS,
      missSeconds,
      parentSeconds,
      storedSeconds,
      median: { miss: median(missSeconds), parent: median(parentSeconds), stored: median(storedSeconds) },
    };
  } finally {
    agent.destroy();
    for (const process of started.reverse()) await process.stop().catch(() => {});
  }
}

export function formatPullThrough(figures: PullThroughFigures): string {
  const mibs = (seconds: number): string => `${(figures.imageBytes / MIB / seconds).toFixed(0)} MiB/s`;
  const { miss, parent, stored } = figures.median;
  return [
    `Pull-through at the edge: a ${figures.imageBytes / MIB} MiB image, median of ${figures.runs} (manifest + blobs, hashed)`,
    `  first pull through a miss  ${miss.toFixed(2)} s  ${mibs(miss)}  ${(miss / parent).toFixed(2)}x the parent`,
    `  straight from the parent   ${parent.toFixed(2)} s  ${mibs(parent)}`,
    `  from the edge once stored  ${stored.toFixed(2)} s  ${mibs(stored)}  ${(stored / parent).toFixed(2)}x the parent`,
  ].join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const workDir = await mkdtemp(join(tmpdir(), "edge-pull-through-bench-"));
  try {
    console.log(formatPullThrough(await runEdgePullThrough(workDir, (line) => console.log(line))));
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
