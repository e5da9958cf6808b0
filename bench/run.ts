/**
 * The first benchmark: our registry (local stack: registry + Azurite + Cosmos DB server)
 * against CNCF distribution (docker-registry 2.8, filesystem storage), both started here
 * on loopback, measured one at a time on the same machine:
 *   1. push of a 100 MiB random blob (POST, one streamed PATCH, PUT ?digest=), median of 3
 *   2. pull of that blob, following redirects, bytes counted and sha256 checked, median of 3
 *      (ours twice: storage with the account key, and the identity profile, where every blob
 *      GET must answer 307 to a user-delegation SAS: the share is a row of its own)
 *   3. manifest GETs by tag over 16 keep-alive connections for ~5 s: req/s, p50, p99
 * (our registry with REGISTRY_ALLOW_ANONYMOUS=true there: docker-registry runs without auth)
 * Then the identity figures: a micro-benchmark of the permission check (permissions-child.ts),
 * then manifest GET with auth on against auth off and token issuance (identity.ts).
 * Prints the tables and writes bench/results/latest.json. `npm run bench` builds and runs it;
 * BENCH_ONLY=auth (or `npm run bench -- --only=auth`) runs only the identity part,
 * BENCH_ONLY=compare only the comparison. BENCH_CPU_PROF=<dir> (or 1: bench/results/profiles)
 * writes V8 CPU profiles of the identity part's registry processes.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startDistribution } from "./distribution.js";
import { makeAdminKey, profileBreakdown, runIdentity, type IdentityResult } from "./identity.js";
import {
  buildAuthRows,
  buildFigureRows,
  formatAuthTable,
  formatFigureTable,
  IDENTITY_GOAL_LINES,
  identityWhereTimeGoes,
} from "./identity-report.js";
import { startOurs } from "./our-stack.js";
import { runPermissionsBench } from "./permissions.js";
import type { PermissionsBenchResult, PermissionsBenchSettings } from "./permissions-child.js";
import { buildRows, finishRun, formatTable, GOAL_LINE, whereTimeGoes } from "./report.js";
import { MIB } from "./stats.js";
import { runSuite, type SuiteOptions, type SuiteResult } from "./suite.js";
import type { Target } from "./target.js";

const BLOB_BYTES = 100 * MIB;
const RUNS = 3;
const LOAD = { concurrency: 16, durationMs: 5_000, warmupMs: 500, maxRequests: 1_000_000 };
/** No comparison measurement starts after this. */
const BUDGET_MS = 195_000;
/** The whole run ends by about this long after its start (~4 minutes with the build). */
const TOTAL_BUDGET_MS = 270_000;
/** No identity HTTP phase starts later than this before the end (the longest phase, and stopping the stacks). */
const IDENTITY_LAST_PHASE_MS = 15_000;
/**
 * The identity HTTP part (~70 s) gets at least this long however slow the comparison was
 * (other work on the machine): its figures are the point of the part, so the run may then
 * end a little after TOTAL_BUDGET_MS instead.
 */
const IDENTITY_HTTP_MIN_MS = 70_000;
const PERMISSIONS: PermissionsBenchSettings = {
  tokens: 20_000,
  distinctScopeMaps: 2_000,
  passMs: 150,
  maxStepsPerPass: 2_000_000,
  budgetMsPerFigure: 1_000,
  buildBudgetMs: 45_000,
};
const PERMISSIONS_TIMEOUT_MS = 120_000;
/** The optional stream-mode pass only starts if this much of the budget is left. */
const STREAM_PASS_NEEDS_MS = 45_000;

const RESULTS_FILE = fileURLToPath(new URL("../../bench/results/latest.json", import.meta.url));

interface Plan {
  key: string;
  optional: boolean;
  start: (dir: string) => Promise<Target>;
}

// docker-registry runs without auth, so ours does too here; the identity part measures auth.
const plans: Plan[] = [
  { key: "distribution", optional: false, start: (dir) => startDistribution(dir) },
  { key: "ours-redirect", optional: false, start: (dir) => startOurs("ours-redirect", dir, { REGISTRY_BLOB_DELIVERY: "redirect", REGISTRY_ALLOW_ANONYMOUS: "true" }) },
  // The deployed storage configuration: Azurite in OAuth mode over HTTPS, no account key, user-delegation SAS.
  { key: "ours-identity", optional: false, start: (dir) => startOurs("ours-identity", dir, { REGISTRY_BLOB_DELIVERY: "redirect", REGISTRY_ALLOW_ANONYMOUS: "true" }, { storageAuth: "identity" }) },
  { key: "ours-stream", optional: true, start: (dir) => startOurs("ours-stream", dir, { REGISTRY_BLOB_DELIVERY: "stream", REGISTRY_ALLOW_ANONYMOUS: "true" }) },
];

type Only = "all" | "auth" | "compare";

/** BENCH_ONLY or --only=: auth (or identity), compare (or registry), all. */
function parseOnly(): Only {
  const fromArgs = process.argv.slice(2).find((a) => a.startsWith("--only="))?.slice("--only=".length);
  const value = (fromArgs ?? process.env.BENCH_ONLY ?? "all").trim().toLowerCase();
  if (value === "" || value === "all") return "all";
  if (value === "auth" || value === "identity") return "auth";
  if (value === "compare" || value === "registry") return "compare";
  throw new Error(`BENCH_ONLY / --only must be auth, compare or all, not "${value}"`);
}

function cpuProfileDir(): string | undefined {
  const value = process.env.BENCH_CPU_PROF;
  if (!value || value === "0") return undefined;
  return value === "1" ? fileURLToPath(new URL("../../bench/results/profiles", import.meta.url)) : value;
}

const log = (message: string): void => console.log(message);
const errorText = (error: unknown): string => (error instanceof Error ? (error.stack ?? error.message) : String(error));

async function main(): Promise<number> {
  const only = parseOnly();
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
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    interrupt.abort();
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
  let identity: IdentityResult | undefined;
  let permissions: PermissionsBenchResult | undefined;
  try {
    const options: SuiteOptions = { blobBuffer: only === "auth" ? Buffer.alloc(0) : Buffer.allocUnsafe(BLOB_BYTES), runs: RUNS, load: LOAD, deadline, log };
    for (const plan of only === "auth" ? [] : plans) {
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
    if (only !== "compare") {
      const part = await runIdentityPart(workDir, live, started, notes, errors, interrupt.signal);
      identity = part.identity;
      permissions = part.permissions;
    }
  } finally {
    await stopAll();
    await rm(workDir, { recursive: true, force: true });
  }

  const distribution = results["distribution"];
  const rows = only === "auth" || Object.keys(results).length === 0 ? [] : buildRows(distribution, {
    ...(results["ours-redirect"] ? { redirect: results["ours-redirect"] } : {}),
    ...(results["ours-identity"] ? { identity: results["ours-identity"] } : {}),
    ...(results["ours-stream"] ? { stream: results["ours-stream"] } : {}),
  });
  const authRows = buildAuthRows(identity);
  const figureRows = buildFigureRows(identity, permissions);
  if (only !== "auth") console.log(`\n${formatTable(rows)}\n${GOAL_LINE}\n`);
  if (only !== "compare") {
    console.log(`\n${formatAuthTable(authRows)}\n\n${formatFigureTable(figureRows)}\n${IDENTITY_GOAL_LINES.join("\n")}\n`);
  }
  console.log("Where time goes:");
  for (const result of Object.values(results)) for (const line of whereTimeGoes(result)) console.log(line);
  for (const line of identityWhereTimeGoes(identity)) console.log(line);
  return finishRun({
    started,
    loadAtStart,
    notes,
    errors,
    resultsFile: RESULTS_FILE,
    results: {
      only,
      settings: { blobBytes: BLOB_BYTES, runs: RUNS, manifestLoad: LOAD, permissions: PERMISSIONS },
      goal: GOAL_LINE,
      table: only === "auth" ? [] : rows,
      results,
      identity: { goals: IDENTITY_GOAL_LINES, authTable: authRows, figures: figureRows, result: identity, permissions },
    },
  });
}

/**
 * The permission micro-benchmark first (it needs no stack, and a fixed time), then two of
 * our stacks side by side (auth on with a fresh admin key; auth off) for the identity
 * HTTP figures, stopped at the end.
 */
async function runIdentityPart(
  workDir: string,
  live: Set<Target>,
  started: number,
  notes: string[],
  errors: Record<string, string>,
  signal: AbortSignal,
): Promise<{ identity?: IdentityResult; permissions?: PermissionsBenchResult }> {
  const out: { identity?: IdentityResult; permissions?: PermissionsBenchResult } = {};
  const totalDeadline = started + TOTAL_BUDGET_MS;

  log("permission micro-benchmark (child process)...");
  try {
    out.permissions = await runPermissionsBench(PERMISSIONS, PERMISSIONS_TIMEOUT_MS, signal);
    const p = out.permissions;
    log(
      `  one 500-action map: ${Object.entries(p.nsPerCheck).map(([k, v]) => `${k} ${v.toFixed(0)} ns`).join(", ")}; ` +
        `${p.tokens.built} token states built in ${p.tokens.buildSeconds.toFixed(1)} s: ${p.tokens.heapMiB.toFixed(0)} MiB, lookup + check ${p.tokens.nsPerLookupAndCheck.toFixed(0)} ns`,
    );
    if (p.wrongAnswers > 0) errors["permissions"] = `allows() gave ${p.wrongAnswers} wrong answers against the fixture`;
  } catch (error) {
    errors["permissions"] = errorText(error);
    log(`  permission micro-benchmark FAILED: ${errors["permissions"]}`);
  }
  if (signal.aborted) return out;

  const t0 = Date.now();
  const httpDeadline = Math.max(totalDeadline, t0 + IDENTITY_HTTP_MIN_MS) - IDENTITY_LAST_PHASE_MS;
  const admin = await makeAdminKey();
  const profiles = cpuProfileDir();
  const plan = [
    { key: "ours-auth-on", settings: { REGISTRY_BLOB_DELIVERY: "redirect", REGISTRY_ALLOW_ANONYMOUS: "false", ADMIN_KEY_HASH: admin.hash } },
    { key: "ours-auth-off", settings: { REGISTRY_BLOB_DELIVERY: "redirect", REGISTRY_ALLOW_ANONYMOUS: "true", ADMIN_KEY_HASH: admin.hash } },
  ];
  log("starting ours-auth-on and ours-auth-off...");
  const starting = await Promise.allSettled(
    plan.map(async ({ key, settings }) => {
      const dir = join(workDir, key);
      await mkdir(dir, { recursive: true });
      const profileDir = profiles ? join(profiles, key) : undefined;
      if (profileDir) await mkdir(profileDir, { recursive: true });
      const target = await startOurs(key, dir, settings, profileDir ? { cpuProfileDir: profileDir } : {});
      live.add(target);
      return target;
    }),
  );
  const [on, off] = starting.map((s) => (s.status === "fulfilled" ? s.value : undefined));
  try {
    for (const [i, s] of starting.entries()) if (s.status === "rejected") errors[plan[i]!.key] = errorText(s.reason);
    if (on && off) {
      log(`  both up after ${((Date.now() - t0) / 1000).toFixed(1)} s (auth on at ${on.baseUrl.origin}, registry pid ${on.processes[0]?.pid}; auth off at ${off.baseUrl.origin})`);
      out.identity = await runIdentity(on, off, { load: LOAD, deadline: httpDeadline, adminKey: admin.key, log });
      const failures = [out.identity.issuance?.failures ?? 0, ...(out.identity.manifests?.rounds ?? []).map((r) => r.failures)].reduce((a, b) => a + b, 0);
      if (failures > 0) errors["identity"] = `${failures} identity requests got a wrong answer; see the notes`;
    }
  } catch (error) {
    errors["identity"] = errorText(error);
    log(`  identity FAILED: ${errors["identity"]}`);
  } finally {
    for (const target of [on, off]) {
      if (!target) continue;
      await target.stop().catch((e: unknown) => log(`stopping ${target.key} failed: ${errorText(e)}`));
      live.delete(target);
    }
    for (const { key } of plan) await rm(join(workDir, key), { recursive: true, force: true });
    if (profiles) {
      log(`  CPU profiles in ${profiles}/<stack>/ (the registry's file name carries pid ${on?.processes[0]?.pid ?? "?"})`);
      const pid = on?.processes[0]?.pid;
      if (out.identity && pid !== undefined) {
        try {
          const breakdown = profileBreakdown(join(profiles, "ours-auth-on"), pid, out.identity);
          if (breakdown) out.identity.profile = breakdown;
          else notes.push(`no CPU profile of the auth-on registry (pid ${pid}) in ${profiles}/ours-auth-on`);
        } catch (error) {
          notes.push(`reading the auth-on registry's CPU profile failed: ${errorText(error).split("\n")[0]}`);
        }
      }
    }
  }
  return out;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(errorText(error));
    process.exit(1);
  },
);
