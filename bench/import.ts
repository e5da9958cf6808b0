/**
 * Import's figures (issue 6), on loopback on one machine: a 200 MiB image (8 layers of 25 MiB
 * random bytes and a config, OCI) in CNCF distribution (docker-registry 2.8, filesystem
 * storage, no auth) copied into our local stack (auth on, in a child process of its own:
 * our-stack.ts) two ways:
 *   - `POST /management/import` with `wait: true` (the registry copies server side), timed
 *     from the request to the answer;
 *   - `skopeo copy docker://<docker-registry>/... docker://<our stack>/...` (through the
 *     machine running skopeo, as a user without import would), timed from spawn to exit.
 * Every run copies an image of its own (same shape, fresh random bytes) into a fresh target
 * repository, so no run finds blobs a previous one left in the registry; runs are
 * interleaved import, skopeo, skopeo, import, import, skopeo so that drift in the machine's
 * speed hits both alike; the figure is the median of 3. A last pair copies an image that is
 * already in the registry again (every blob skipped or mounted). Prints a table and writes
 * bench/results/import-latest.json. `npm run bench:import` builds and runs it.
 */
import { execFile } from "node:child_process";
import { randomBytes, randomFillSync } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, type OutgoingHttpHeaders } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { pushBlobMonolithic, sha256Digest } from "./blobs.js";
import { cpuDelta, readCpu, waitForQuietMachine, type ProcessRef } from "./cpu.js";
import { startDistribution } from "./distribution.js";
import { call, expectStatus } from "./http.js";
import { makeAdminKey } from "./identity.js";
import { OCI_MANIFEST } from "./manifests.js";
import { startOurs } from "./our-stack.js";
import { finishRun, formatGrid } from "./report.js";
import { median, mibPerSecond, MIB } from "./stats.js";
import { fmt } from "./suite.js";

const execFileAsync = promisify(execFile);

const LAYERS = 8;
const LAYER_BYTES = 25 * MIB;
const ORDER = ["import", "skopeo", "skopeo", "import", "import", "skopeo"] as const;
const COPY_TIMEOUT_MS = 600_000;
const TIMEOUT_MS = 60_000;
const QUIET_WAIT_MS = 5_000;
const PUSHER = "benchpusher";
const RESULTS_FILE = fileURLToPath(new URL("../../bench/results/import-latest.json", import.meta.url));

type Tool = (typeof ORDER)[number];

interface Run {
  tool: Tool;
  seconds: number;
  mibPerSecond: number;
  /** CPU seconds by process during the copy (skopeo's own is in other-processes). */
  cpu: Record<string, number>;
  /** The import operation's progress at the end (import runs only). */
  progress?: Record<string, number>;
}

interface Figures {
  imageBytes: number;
  runs: Run[];
  /** A second copy of an image already in the registry, into a fresh repository. */
  again?: { importSeconds: number; skopeoSeconds: number; importProgress?: Record<string, number> };
}

const log = (message: string): void => console.log(message);
const errorText = (error: unknown): string => (error instanceof Error ? (error.stack ?? error.message) : String(error));
const basic = (name: string, password: string): string => `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}`;

/** skopeo confined to a temporary folder: the machine's or user's configuration cannot change a figure. */
async function confinedSkopeo(dir: string): Promise<(args: string[]) => Promise<void>> {
  await mkdir(join(dir, "registries.d"), { recursive: true });
  await mkdir(join(dir, "home"), { recursive: true });
  await writeFile(join(dir, "auth.json"), "{}");
  await writeFile(join(dir, "policy.json"), JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  await writeFile(join(dir, "registries.conf"), "unqualified-search-registries = []\n");
  return async (args) => {
    await execFileAsync("skopeo", ["--policy", join(dir, "policy.json"), "--registries.d", join(dir, "registries.d"), ...args], {
      env: { PATH: process.env.PATH, HOME: join(dir, "home"), REGISTRY_AUTH_FILE: join(dir, "auth.json"), CONTAINERS_REGISTRIES_CONF: join(dir, "registries.conf") },
      timeout: COPY_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
  };
}

/** An OCI image of LAYERS random layers under `repository:v1`; returns its manifest's digest and total blob bytes. */
async function pushRandomImage(base: URL, repository: string, agent: Agent, layerBuffer: Buffer): Promise<{ digest: string; bytes: number }> {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") }));
  const configDigest = await pushBlobMonolithic(base, repository, config, agent);
  const layers = [];
  for (let i = 0; i < LAYERS; i++) {
    randomFillSync(layerBuffer);
    layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: await pushBlobMonolithic(base, repository, layerBuffer, agent), size: layerBuffer.length });
  }
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length }, layers }),
  );
  const response = await call(new URL(`/v2/${repository}/manifests/v1`, base), { method: "PUT", agent, timeoutMs: TIMEOUT_MS, headers: { "content-type": OCI_MANIFEST }, body: manifest });
  expectStatus(response, 201, `PUT ${repository}:v1`);
  return { digest: sha256Digest(manifest), bytes: config.length + LAYERS * layerBuffer.length };
}

/** The target holds `repository:v1` with the expected digest (checked after each timed copy, outside the timing). */
async function expectCopied(base: URL, repository: string, digest: string, agent: Agent, headers: OutgoingHttpHeaders): Promise<void> {
  const response = await call(new URL(`/v2/${repository}/manifests/v1`, base), { method: "GET", agent, timeoutMs: TIMEOUT_MS, headers: { ...headers, accept: OCI_MANIFEST } });
  expectStatus(response, 200, `GET ${repository}:v1 after the copy`);
  if (sha256Digest(response.body) !== digest) throw new Error(`${repository}:v1 has digest ${sha256Digest(response.body)} after the copy, not ${digest}`);
}

const cpuText = (cpu: Record<string, number>, divisor: number, unit: string): string =>
  Object.entries(cpu)
    .sort((a, b) => b[1] - a[1])
    .map(([label, value]) => `${label} ${(value / divisor).toFixed(2)}${unit}`)
    .join(", ");

async function main(): Promise<number> {
  const started = Date.now();
  const loadAtStart = loadavg();
  const workDir = await mkdtemp(join(tmpdir(), "import-bench-"));
  const live = new Set<{ stop(): Promise<void> }>();
  const stopAll = async (): Promise<void> => {
    await Promise.all([...live].map((t) => t.stop().catch((e: unknown) => log(`stopping failed: ${errorText(e)}`))));
    live.clear();
  };
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    log(`\n${signal}: stopping everything the benchmark started...`);
    void stopAll()
      .then(() => rm(workDir, { recursive: true, force: true }))
      .finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const figures: Figures = { imageBytes: 0, runs: [] };
  const notes: string[] = [];
  const errors: Record<string, string> = {};
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    log("starting our local stack (auth on) and docker-registry...");
    const admin = await makeAdminKey();
    const ours = await startOurs("ours", join(workDir, "ours"), { REGISTRY_ALLOW_ANONYMOUS: "false", ADMIN_KEY_HASH: admin.hash });
    live.add(ours);
    const distribution = await startDistribution(join(workDir, "distribution"));
    live.add(distribution);
    const processes: ProcessRef[] = [...ours.processes, { label: "docker-registry", pid: distribution.processes[0]!.pid }];
    const adminHeaders = { authorization: `Bearer ${admin.key}`, "content-type": "application/json" };
    const manage = async (method: string, path: string, body: unknown, timeoutMs = TIMEOUT_MS) => {
      const response = await call(new URL(`/management/${path}`, ours.baseUrl), { method, agent, timeoutMs, headers: adminHeaders, body: Buffer.from(JSON.stringify(body)) });
      return { status: response.status, body: response.body.length > 0 ? (JSON.parse(response.body.toString("utf8")) as any) : undefined };
    };
    const created = await manage("POST", "tokens", { name: PUSHER, scopeMap: "_repositories_admin" });
    if (created.status !== 201) throw new Error(`token create answered ${created.status}: ${JSON.stringify(created.body)}`);
    const generated = await manage("POST", `tokens/${PUSHER}/credentials/generate`, { name: "password1" });
    const pusherPassword = generated.body.passwords[0].value as string;
    const pusher = { authorization: basic(PUSHER, pusherPassword) };
    const skopeo = await confinedSkopeo(join(workDir, "skopeo"));
    const sourceHost = distribution.baseUrl.host;
    const targetHost = ours.baseUrl.host;
    const layerBuffer = Buffer.allocUnsafe(LAYER_BYTES);

    const importOnce = async (source: string, repository: string): Promise<{ seconds: number; progress?: Record<string, number> }> => {
      const t0 = performance.now();
      const answer = await manage("POST", "import", { source: `${sourceHost}/${source}:v1`, targetTags: [`${repository}:v1`], wait: true }, COPY_TIMEOUT_MS);
      const seconds = (performance.now() - t0) / 1000;
      if (answer.status !== 200 || answer.body?.status !== "Succeeded") {
        throw new Error(`import of ${source}:v1 answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 500)}`);
      }
      return { seconds, ...(answer.body.progress ? { progress: answer.body.progress as Record<string, number> } : {}) };
    };
    const skopeoOnce = async (source: string, repository: string): Promise<number> => {
      const t0 = performance.now();
      await skopeo([
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--preserve-digests",
        "--dest-creds",
        `${PUSHER}:${pusherPassword}`,
        `docker://${sourceHost}/${source}:v1`,
        `docker://${targetHost}/${repository}:v1`,
      ]);
      return (performance.now() - t0) / 1000;
    };

    let firstSource: { repository: string; digest: string } | undefined;
    for (const [n, tool] of ORDER.entries()) {
      const source = `bench/source${n}`;
      const repository = `bench/${tool}${n}`;
      try {
        log(`run ${n + 1}/${ORDER.length} (${tool}): pushing a fresh ${LAYERS} x ${LAYER_BYTES / MIB} MiB image to docker-registry...`);
        const image = await pushRandomImage(distribution.baseUrl, source, agent, layerBuffer);
        figures.imageBytes = image.bytes;
        firstSource ??= { repository: source, digest: image.digest };
        const busy = await waitForQuietMachine(QUIET_WAIT_MS);
        if (busy !== undefined && busy >= 0.25) notes.push(`before run ${n + 1} (${tool}) the machine stayed busy (${busy.toFixed(2)} CPUs); figures may be low`);
        const before = readCpu(processes);
        let seconds: number;
        let progress: Record<string, number> | undefined;
        if (tool === "import") ({ seconds, progress } = await importOnce(source, repository));
        else seconds = await skopeoOnce(source, repository);
        const cpu = cpuDelta(before, readCpu(processes));
        await expectCopied(ours.baseUrl, repository, image.digest, agent, pusher);
        const run: Run = { tool, seconds, mibPerSecond: mibPerSecond(image.bytes, seconds), cpu, ...(progress ? { progress } : {}) };
        figures.runs.push(run);
        log(`  ${tool}: ${seconds.toFixed(2)} s, ${fmt(run.mibPerSecond)} MiB/s${progress ? ` (progress ${JSON.stringify(progress)})` : ""}`);
      } catch (error) {
        errors[`run ${n + 1} (${tool})`] = errorText(error);
        log(`  FAILED: ${errorText(error)}`);
      }
    }

    if (firstSource) {
      try {
        log("copying the first image again into fresh repositories (every blob already in the registry)...");
        const imported = await importOnce(firstSource.repository, "bench/import-again");
        await expectCopied(ours.baseUrl, "bench/import-again", firstSource.digest, agent, pusher);
        const skopeoSeconds = await skopeoOnce(firstSource.repository, "bench/skopeo-again");
        await expectCopied(ours.baseUrl, "bench/skopeo-again", firstSource.digest, agent, pusher);
        figures.again = { importSeconds: imported.seconds, skopeoSeconds, ...(imported.progress ? { importProgress: imported.progress } : {}) };
        log(`  import ${imported.seconds.toFixed(2)} s${imported.progress ? ` (progress ${JSON.stringify(imported.progress)})` : ""}, skopeo ${skopeoSeconds.toFixed(2)} s`);
      } catch (error) {
        errors["again"] = errorText(error);
        log(`  FAILED: ${errorText(error)}`);
      }
    }
  } catch (error) {
    errors["setup"] = errorText(error);
    log(`FAILED: ${errorText(error)}`);
  } finally {
    agent.destroy();
    await stopAll();
    await rm(workDir, { recursive: true, force: true });
  }

  const rows = buildRows(figures);
  console.log(`\n${formatGrid(["metric", "import (ours)", "skopeo copy", "ratio (import/skopeo)"], rows)}\n${GOAL_LINE}\n`);
  console.log("Where time goes (per run, CPU seconds by process; skopeo's own CPU is in other-processes):");
  for (const run of figures.runs) console.log(`  ${run.tool.padEnd(6)} ${run.seconds.toFixed(2)} s: ${cpuText(run.cpu, 1, " s")}`);
  return finishRun({ started, loadAtStart, notes, errors, resultsFile: RESULTS_FILE, results: { settings: { layers: LAYERS, layerBytes: LAYER_BYTES, order: ORDER }, goal: GOAL_LINE, table: rows, figures } });
}

const GOAL_LINE = "Goal (issue 6): import at least as fast as skopeo copy between the same registries (ratio >= 1 on MiB/s, <= 1 on seconds).";

function ratioCell(ratio: number, higherIsBetter: boolean): string {
  if (!Number.isFinite(ratio)) return "n/a";
  const ok = higherIsBetter ? ratio >= 1 : ratio <= 1;
  return `${ratio.toFixed(2)}${ok ? "  ok" : higherIsBetter ? "  BELOW GOAL" : "  ABOVE GOAL"}`;
}

function buildRows(figures: Figures): string[][] {
  const of = (tool: Tool): Run[] => figures.runs.filter((r) => r.tool === tool);
  const imports = of("import");
  const copies = of("skopeo");
  const size = `${Math.round(figures.imageBytes / MIB)} MiB, ${LAYERS} layers`;
  const importMiBps = median(imports.map((r) => r.mibPerSecond));
  const skopeoMiBps = median(copies.map((r) => r.mibPerSecond));
  const importSeconds = median(imports.map((r) => r.seconds));
  const skopeoSeconds = median(copies.map((r) => r.seconds));
  const rows = [
    [`copy of a ${size} image docker-registry -> ours, MiB/s (median of ${imports.length}/${copies.length})`, fmt(importMiBps), fmt(skopeoMiBps), ratioCell(importMiBps / skopeoMiBps, true)],
    [`copy of a ${size} image docker-registry -> ours, s (median)`, fmt(importSeconds), fmt(skopeoSeconds), ratioCell(importSeconds / skopeoSeconds, false)],
  ];
  if (figures.again) {
    rows.push([`the same image again into a fresh repository (blobs already in), s`, fmt(figures.again.importSeconds), fmt(figures.again.skopeoSeconds), ratioCell(figures.again.importSeconds / figures.again.skopeoSeconds, false)]);
  }
  return rows;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(errorText(error));
    process.exit(1);
  },
);
