/**
 * The first benchmark: our registry (local stack: registry + Azurite + Cosmos DB server)
 * against CNCF distribution (docker-registry 2.8, filesystem storage), both started here
 * on loopback, measured one at a time on the same machine:
 *   1. push of a 100 MiB random blob (POST, one streamed PATCH, PUT ?digest=), median of 3
 *   2. pull of that blob, following redirects, bytes counted and sha256 checked, median of 3
 *   3. manifest GETs by tag over 16 keep-alive connections for ~5 s: req/s, p50, p99
 * Prints a table and writes bench/results/latest.json. `npm run bench` builds and runs it.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startDistribution } from "./distribution.js";
import { startOurs } from "./our-stack.js";
import { buildRows, formatTable, GOAL_LINE, whereTimeGoes } from "./report.js";
import { MIB } from "./stats.js";
import { runSuite, type SuiteOptions, type SuiteResult } from "./suite.js";
import type { Target } from "./target.js";

const BLOB_BYTES = 100 * MIB;
const RUNS = 3;
const LOAD = { concurrency: 16, durationMs: 5_000, warmupMs: 500, maxRequests: 1_000_000 };
/** No measurement starts after this; keeps the whole run under ~3 minutes. */
const BUDGET_MS = 150_000;
/** The optional stream-mode pass only starts if this much of the budget is left. */
const STREAM_PASS_NEEDS_MS = 45_000;

const RESULTS_FILE = fileURLToPath(new URL("../../bench/results/latest.json", import.meta.url));

interface Plan {
  key: string;
  optional: boolean;
  start: (dir: string) => Promise<Target>;
}

const plans: Plan[] = [
  { key: "distribution", optional: false, start: (dir) => startDistribution(dir) },
  { key: "ours-redirect", optional: false, start: (dir) => startOurs("ours-redirect", dir, { REGISTRY_BLOB_DELIVERY: "redirect" }) },
  { key: "ours-stream", optional: true, start: (dir) => startOurs("ours-stream", dir, { REGISTRY_BLOB_DELIVERY: "stream" }) },
];

const log = (message: string): void => console.log(message);
const errorText = (error: unknown): string => (error instanceof Error ? (error.stack ?? error.message) : String(error));

async function main(): Promise<number> {
  const started = Date.now();
  const loadAtStart = loadavg();
  const deadline = started + BUDGET_MS;
  const workDir = await mkdtemp(join(tmpdir(), "registry-bench-"));
  const live = new Set<Target>();
  const stopAll = async (): Promise<void> => {
    await Promise.all([...live].map((t) => t.stop().catch((e: unknown) => log(`stopping ${t.key} failed: ${errorText(e)}`))));
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

  const results: Record<string, SuiteResult> = {};
  const errors: Record<string, string> = {};
  const notes: string[] = [];
  try {
    const options: SuiteOptions = { blobBuffer: Buffer.allocUnsafe(BLOB_BYTES), runs: RUNS, load: LOAD, deadline, log };
    for (const plan of plans) {
      if (plan.optional && deadline - Date.now() < STREAM_PASS_NEEDS_MS) {
        notes.push(`${plan.key} skipped: less than ${STREAM_PASS_NEEDS_MS / 1000} s of the ${BUDGET_MS / 1000} s budget left`);
        continue;
      }
      if (Date.now() > deadline) {
        notes.push(`${plan.key} skipped: time budget spent`);
        continue;
      }
      const dir = join(workDir, plan.key);
      await mkdir(dir, { recursive: true });
      const t0 = Date.now();
      log(`starting ${plan.key}...`);
      let target: Target | undefined;
      try {
        target = await plan.start(dir);
        live.add(target);
        log(`  ${plan.key} is up at ${target.baseUrl.origin} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        const result = await runSuite(target, options);
        results[plan.key] = result;
        if (result.manifests && result.manifests.failures > 0) {
          errors[plan.key] = `${result.manifests.failures} manifest GETs were not 200 with the pushed manifest; first: ${result.manifests.firstFailure}`;
        }
      } catch (error) {
        errors[plan.key] = errorText(error);
        log(`  ${plan.key} FAILED: ${errors[plan.key]}`);
      } finally {
        if (target) {
          await target.stop();
          live.delete(target);
        }
        // Frees the folder before the next target writes its own.
        await rm(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await stopAll();
    await rm(workDir, { recursive: true, force: true });
  }

  const distribution = results["distribution"];
  const rows = buildRows(distribution, {
    ...(results["ours-redirect"] ? { redirect: results["ours-redirect"] } : {}),
    ...(results["ours-stream"] ? { stream: results["ours-stream"] } : {}),
  });
  const elapsedSeconds = (Date.now() - started) / 1000;
  console.log(`\n${formatTable(rows)}\n${GOAL_LINE}\n`);
  console.log("Where time goes:");
  for (const result of Object.values(results)) for (const line of whereTimeGoes(result)) console.log(line);
  for (const note of notes) console.log(`note: ${note}`);
  for (const [key, error] of Object.entries(errors)) console.log(`ERROR ${key}: ${error.split("\n")[0]}`);
  console.log(
    `(${elapsedSeconds.toFixed(0)} s, ${cpus().length} CPUs, Node ${process.version}, load average ${loadAtStart.map((l) => l.toFixed(2)).join(" ")} at start, ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")} at end)`,
  );

  await mkdir(join(RESULTS_FILE, ".."), { recursive: true });
  await writeFile(
    RESULTS_FILE,
    JSON.stringify(
      {
        finishedAt: new Date().toISOString(),
        elapsedSeconds,
        machine: {
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model,
          node: process.version,
          platform: process.platform,
          loadAverageAtStart: loadAtStart,
          loadAverageAtEnd: loadavg(),
        },
        settings: { blobBytes: BLOB_BYTES, runs: RUNS, manifestLoad: LOAD },
        goal: GOAL_LINE,
        table: rows,
        results,
        errors,
        notes,
      },
      (_key, value: unknown) => (typeof value === "number" && !Number.isFinite(value) ? null : value),
      2,
    ) + "\n",
  );
  console.log(`results written to ${RESULTS_FILE}`);
  return Object.keys(errors).length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(errorText(error));
    process.exit(1);
  },
);
