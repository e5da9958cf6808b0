/** The identity tables (auth on against auth off; token server and permission figures) as text. */
import { registryLabel, type IdentityResult, type ManifestMode } from "./identity.js";
import type { PermissionsBenchResult } from "./permissions-child.js";
import { OTHER } from "./cpu.js";
import { formatGrid } from "./report.js";
import { fmt } from "./suite.js";

/** Throughput with auth over throughput without must stay at or above this (judged on the median of the blocks of adjacent rounds). */
export const AUTH_RATIO_GOAL = 0.9;
/** "Checked in microseconds": a lookup + check at 20,000 tokens under this. */
export const CHECK_GOAL_NS = 10_000;

export const IDENTITY_GOAL_LINES = [
  `Goal: auth costs < 10% of throughput (manifest GET req/s with auth / without >= ${AUTH_RATIO_GOAL.toFixed(2)}; ` +
    `registry CPU per request with / without <= ${(1 / AUTH_RATIO_GOAL).toFixed(2)}).`,
  `Goal: a 500-action scope map with wildcards is checked in microseconds at 20,000 tokens (token lookup + check < ${CHECK_GOAL_NS / 1000} µs).`,
];

export interface AuthRow {
  metric: string;
  on: number;
  off: number;
  ratio: number;
  /** "ok (...)", "BELOW GOAL (...)": only on the rows that carry a goal. */
  verdict?: string;
}

/** Other work on the machine above this many CPUs during the rounds makes the req/s verdict suspect. */
const NOISY_CORES = 0.25;
/** A block is quiet when other work used at most this many CPUs in each of its rounds. */
const QUIET_BLOCK_CORES = 0.15;
/** The req/s verdict uses the quiet blocks alone when there are at least this many. */
const MIN_QUIET_BLOCKS = 3;

export interface FigureRow {
  metric: string;
  value: number;
  unit: string;
  note: string;
}

type ModeFigures = NonNullable<IdentityResult["manifests"]>["byMode"][ManifestMode];

const registryCpuMsPerRequest = (m: ModeFigures, mode: ManifestMode): number =>
  m ? ((m.cpu[registryLabel(mode)] ?? Number.NaN) * 1000) / (m.wallSeconds * m.requestsPerSecond) : Number.NaN;

export function buildAuthRows(identity: IdentityResult | undefined): AuthRow[] {
  const manifests = identity?.manifests;
  if (!manifests) return [];
  const { byMode, blockRatios, rounds } = manifests;
  const off = byMode.off;
  const wall = rounds.reduce((n, r) => n + r.wallSeconds, 0);
  const otherCores = rounds.reduce((n, r) => n + (r.cpu[OTHER] ?? 0), 0) / Math.max(wall, 1e-9);
  const noisy = otherCores > NOISY_CORES ? `; noisy: other work used ${otherCores.toFixed(2)} CPUs` : "";
  const rows: AuthRow[] = [];
  for (const mode of ["bearer", "basic"] as const) {
    const on = byMode[mode];
    if (!on && !off) continue;
    const count = rounds.filter((r) => r.mode === mode).length;
    const add = (metric: string, pick: (m: ModeFigures, mode: ManifestMode) => number, verdict?: (ratio: number) => string): void => {
      const a = pick(on, mode);
      const b = pick(off, "off");
      const ratio = a / b;
      rows.push({ metric, on: a, off: b, ratio, ...(verdict && Number.isFinite(ratio) ? { verdict: verdict(ratio) } : {}) });
    };
    const label = mode === "bearer" ? "[bearer] " : "[basic to /v2/] ";
    add(`${label}manifest GET, req/s, ${count} rounds of ${manifests.roundSeconds} s`, (m) => m?.requestsPerSecond ?? Number.NaN);
    // The verdict: the median of the blocks that other work left alone, when there are
    // enough of them; else of all blocks, marked noisy.
    const all = blockRatios[mode].map((ratio, b) => ({ ratio, quiet: (manifests.blockOtherCores[b] ?? Number.POSITIVE_INFINITY) <= QUIET_BLOCK_CORES }));
    const finite = all.filter((b) => Number.isFinite(b.ratio));
    const quiet = finite.filter((b) => b.quiet);
    const chosen = quiet.length >= MIN_QUIET_BLOCKS ? quiet : finite;
    if (chosen.length > 0) {
      const sorted = chosen.map((b) => b.ratio).sort((a, b) => a - b);
      const middle = Math.floor(sorted.length / 2);
      const med = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
      const which = chosen === quiet ? `${quiet.length} quiet blocks of ${finite.length}` : `${finite.length} blocks`;
      rows.push({
        metric: `${label}req/s ratio, median of ${which} (range ${sorted[0]!.toFixed(2)}-${sorted.at(-1)!.toFixed(2)})`,
        on: Number.NaN,
        off: Number.NaN,
        ratio: med,
        verdict: `${med >= AUTH_RATIO_GOAL ? "ok" : "BELOW GOAL"} (goal >= ${AUTH_RATIO_GOAL.toFixed(2)}${chosen === quiet ? "" : noisy})`,
      });
    }
    add(`${label}manifest GET p50, ms`, (m) => m?.p50Ms ?? Number.NaN);
    add(`${label}manifest GET p99, ms`, (m) => m?.p99Ms ?? Number.NaN);
    // The registry's one thread is the bottleneck of a manifest GET: its CPU per request
    // bounds throughput, and other work on the machine disturbs it far less than req/s.
    const cpuGoal = 1 / AUTH_RATIO_GOAL;
    add(`${label}registry CPU per request, ms`, registryCpuMsPerRequest, (ratio) =>
      `${ratio <= cpuGoal ? "ok" : "ABOVE GOAL"} (goal <= ${cpuGoal.toFixed(2)}: the registry's thread is the bottleneck)`,
    );
  }
  return rows;
}

/** Two decimals, three where two would hide which side of a goal the ratio is on. */
function ratioText(row: AuthRow): string {
  const near = [AUTH_RATIO_GOAL, 1 / AUTH_RATIO_GOAL].some((goal) => Math.abs(row.ratio - goal) < 0.005);
  return row.ratio.toFixed(row.verdict && near ? 3 : 2);
}

export function formatAuthTable(rows: AuthRow[]): string {
  const header = ["metric (identity: auth on vs REGISTRY_ALLOW_ANONYMOUS=true)", "auth on", "auth off", "ratio (on/off)"];
  const lines = rows.map((r) => [
    r.metric,
    Number.isFinite(r.on) ? fmt(r.on) : "",
    Number.isFinite(r.off) ? fmt(r.off) : "",
    Number.isFinite(r.ratio) ? `${ratioText(r)}${r.verdict ? `  ${r.verdict}` : ""}` : "n/a",
  ]);
  return formatGrid(header, lines);
}

export function buildFigureRows(identity: IdentityResult | undefined, permissions: PermissionsBenchResult | undefined): FigureRow[] {
  const rows: FigureRow[] = [];
  const add = (metric: string, value: number | undefined, unit: string, note = ""): void => {
    rows.push({ metric, value: value ?? Number.NaN, unit, note });
  };
  if (identity) {
    const issuance = identity.issuance;
    const conns = "16 conns";
    add(`token issuance (Basic -> JWT), tokens/s, ${conns}, ${issuance ? fmt(issuance.seconds) : "?"} s`, issuance?.requestsPerSecond, "/s", "steady state: pair cached; token + scope map read, ES256 signed");
    add("token issuance p50", issuance?.p50Ms, "ms");
    add("token issuance p99", issuance?.p99Ms, "ms");
    add(
      "token issuance, registry CPU per token",
      issuance ? ((issuance.cpu["on:registry"] ?? Number.NaN) * 1000) / issuance.requests : undefined,
      "ms",
      issuance ? `cosmos ${fmt(((issuance.cpu["on:cosmos"] ?? Number.NaN) * 1000) / issuance.requests)} ms` : "",
    );
    const first = identity.firstCall;
    add(`first call, cold password, p50 (${first?.count ?? 0} tokens, one at a time)`, first?.p50Ms, "ms", "the first password check + the steady-state work");
    add("first call, cold password, max", first?.maxMs, "ms");
    add("second call, same tokens, p50", identity.secondCall?.p50Ms, "ms", "verified pair cached");
    add("scrypt verify alone (N=16384, r=8, p=1)", identity.scryptVerifyMs, "ms", "in the benchmark process, for reference");
    const burst = identity.coldBurst;
    add(
      `${burst?.count ?? 16} cold logins sent at once, logins/s`,
      burst?.loginsPerSecond,
      "/s",
      burst ? `all done in ${fmt(burst.seconds * 1000)} ms; p50 ${fmt(burst.p50Ms)} ms, max ${fmt(burst.maxMs)} ms` : "",
    );
  }
  if (permissions) {
    add(`compile a ${permissions.actionsPerScopeMap}-action scope map (parse + Permissions)`, permissions.compileMicroseconds, "µs", "done per token state load");
    for (const [kind, ns] of Object.entries(permissions.nsPerCheck)) add(`allows() on one 500-action map: ${kind}`, ns, "ns");
    const t = permissions.tokens;
    add(`${t.built.toLocaleString("en-US")} token states: build time`, t.buildSeconds, "s", `${t.built < t.requested ? `STOPPED EARLY (time budget): ${t.requested} asked; ` : ""}each its own Permissions, from ${t.distinctScopeMaps.toLocaleString("en-US")} different 500-action maps`);
    add(`${t.built.toLocaleString("en-US")} token states: heap`, t.heapMiB, "MiB", `${fmt(t.heapKiBPerToken)} KiB per token; process RSS ${fmt(t.rssMiB)} MiB`);
    add(`token lookup + allows() at ${t.built.toLocaleString("en-US")} tokens`, t.nsPerLookupAndCheck, "ns", t.nsPerLookupAndCheck < CHECK_GOAL_NS ? `ok (goal < ${CHECK_GOAL_NS / 1000} µs)` : `ABOVE GOAL (${CHECK_GOAL_NS / 1000} µs)`);
    add(`token lookup alone (Map.get) at ${t.built.toLocaleString("en-US")} tokens`, t.nsPerLookup, "ns", "random tokens, so mostly cache misses");
    if (permissions.wrongAnswers > 0) add("WRONG answers from allows()", permissions.wrongAnswers, "", "the permission check disagreed with the fixture");
  }
  return rows;
}

export function formatFigureTable(rows: FigureRow[]): string {
  const header = ["metric (identity)", "value", "unit", "note"];
  return formatGrid(
    header,
    rows.map((r) => [r.metric, fmt(r.value), r.unit, r.note]),
  );
}

/** CPU by process per request, per mode and for token issuance. */
export function identityWhereTimeGoes(identity: IdentityResult | undefined): string[] {
  if (!identity) return [];
  const lines = ["identity:"];
  const perRequest = (cpu: Record<string, number>, requests: number): string =>
    Object.entries(cpu)
      .sort((a, b) => b[1] - a[1])
      .map(([label, seconds]) => `${label} ${((seconds * 1000) / requests).toFixed(2)}`)
      .join(", ");
  if (identity.issuance) lines.push(`  token issuance: CPU ms per token: ${perRequest(identity.issuance.cpu, identity.issuance.requests)}`);
  for (const [mode, m] of Object.entries(identity.manifests?.byMode ?? {})) {
    if (!m) continue;
    const requests = m.requestsPerSecond * m.wallSeconds;
    lines.push(`  manifest GET (${mode}): CPU ms per request (warm-ups included): ${perRequest(m.cpu, requests)}`);
  }
  const rounds = identity.manifests?.rounds ?? [];
  if (rounds.length > 0) lines.push(`  manifest rounds, req/s in order: ${rounds.map((r) => `${r.mode} ${fmt(r.requestsPerSecond)}`).join(", ")}`);
  const blocks = identity.manifests?.blockRatios;
  if (blocks && blocks.bearer.length > 0) {
    const list = (values: number[]): string => values.map((v) => v.toFixed(2)).join(", ");
    lines.push(`  ratio on/off within each block of adjacent rounds: bearer ${list(blocks.bearer)}; basic ${list(blocks.basic)}`);
    lines.push(`  other work's CPUs per block (most in one round): ${identity.manifests!.blockOtherCores.map((c) => c.toFixed(2)).join(", ")}`);
  }
  const profile = identity.profile;
  if (profile) {
    const parts = (part: { busyMs: number; ms: Record<string, number> }): string =>
      Object.entries(part.ms)
        .map(([name, ms]) => `${name} ${((100 * ms) / part.busyMs).toFixed(1)}%`)
        .join(", ");
    lines.push(`  CPU profile of the auth-on registry (${profile.file}):`);
    if (profile.rounds) lines.push(`    manifest rounds (bearer + basic), share of its busy ${(profile.rounds.busyMs / 1000).toFixed(1)} s: ${parts(profile.rounds)}`);
    if (profile.issuance) lines.push(`    token issuance, share of its busy ${(profile.issuance.busyMs / 1000).toFixed(1)} s: ${parts(profile.issuance)}`);
  }
  for (const note of identity.notes) lines.push(`  note: ${note}`);
  return lines;
}
