/** The comparison table, the "where time goes" breakdown, and how every benchmark run ends. */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { dirname } from "node:path";
import { fmt, sumCpu, type SuiteResult } from "./suite.js";
import { median } from "./stats.js";

export interface Row {
  metric: string;
  /** Which of our stacks the "ours" figure comes from. */
  mode: "redirect" | "identity" | "stream";
  ours: number;
  distribution: number;
  /** ours / distribution. */
  ratio: number;
  higherIsBetter: boolean;
}

export function buildRows(distribution: SuiteResult | undefined, ours: Partial<Record<"redirect" | "identity" | "stream", SuiteResult>>): Row[] {
  const rows: Row[] = [];
  const add = (metric: string, mode: Row["mode"], pick: (s: SuiteResult) => number | undefined, higherIsBetter: boolean): void => {
    const mine = ours[mode];
    const a = mine ? (pick(mine) ?? Number.NaN) : Number.NaN;
    const b = distribution ? (pick(distribution) ?? Number.NaN) : Number.NaN;
    rows.push({ metric, mode, ours: a, distribution: b, ratio: a / b, higherIsBetter });
  };
  for (const mode of ["redirect", "identity", "stream"] as const) {
    if (mode !== "redirect" && !ours[mode]) continue;
    const size = `${Math.round((distribution ?? ours[mode])!.blobBytes / 1024 / 1024)} MiB`;
    const runs = (distribution ?? ours[mode])!.push.runs.length;
    add(`[${mode}] blob push ${size}, MiB/s (median of ${runs})`, mode, (s) => s.push.medianMiBps, true);
    add(`[${mode}] blob pull ${size}, MiB/s (median of ${runs})`, mode, (s) => s.pull.medianMiBps, true);
    // The goal of the identity profile: no byte through the registry even without an account key.
    if (mode === "identity") add(`[${mode}] blob GETs without Range answered 307, %`, mode, redirectedShare, true);
    add(`[${mode}] manifest GET, req/s`, mode, (s) => s.manifests?.requestsPerSecond, true);
    add(`[${mode}] manifest GET p50, ms`, mode, (s) => s.manifests?.p50Ms, false);
    add(`[${mode}] manifest GET p99, ms`, mode, (s) => s.manifests?.p99Ms, false);
  }
  return rows;
}

/** Of the benchmark's blob pulls (no Range), the share whose first answer was a redirect; docker-registry's filesystem never redirects. */
function redirectedShare(result: SuiteResult): number | undefined {
  const runs = result.pull.runs;
  return runs.length === 0 ? undefined : (100 * runs.filter((run) => run.redirectedTo.length > 0).length) / runs.length;
}

export function formatTable(rows: Row[]): string {
  const header = ["metric ([mode] of our stack)", "ours", "distribution", "ratio (ours/distribution)"];
  const lines = rows.map((r) => [
    r.metric,
    fmt(r.ours),
    fmt(r.distribution),
    Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}${r.higherIsBetter ? (r.ratio >= 1 ? "  ok" : "  BELOW GOAL") : r.ratio <= 1 ? "  ok" : "  ABOVE GOAL"}` : "n/a",
  ]);
  return formatGrid(header, lines);
}

/** A text table: the first and last columns left-aligned, the others right-aligned. */
export function formatGrid(header: string[], lines: string[][]): string {
  const last = header.length - 1;
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]): string => cells.map((c, i) => (i === 0 || i === last ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ").trimEnd();
  return [format(header), widths.map((w) => "-".repeat(w)).join("-|-"), ...lines.map(format)].join("\n");
}

export const GOAL_LINE =
  "Goal: ours >= distribution on every throughput row (ratio >= 1) and ours <= distribution on latency rows (ratio <= 1).";

const cpuText = (cpu: Record<string, number>, divisor: number, unit: string): string =>
  Object.entries(cpu)
    .sort((a, b) => b[1] - a[1])
    .map(([label, seconds]) => `${label} ${(seconds / divisor).toFixed(2)}${unit}`)
    .join(", ");

/** Per-phase timings and CPU by process, averaged per run. */
export function whereTimeGoes(result: SuiteResult): string[] {
  const lines = [`${result.target}:`];
  const pushes = result.push.runs;
  if (pushes.length > 0) {
    lines.push(
      `  push  (per run, median): POST ${fmt(median(pushes.map((r) => r.postMs)))} ms, PATCH ${fmt(median(pushes.map((r) => r.patchMs)))} ms, ` +
        `PUT ${fmt(median(pushes.map((r) => r.putMs)))} ms; CPU per run: ${cpuText(sumCpu(pushes), pushes.length, " s")}`,
    );
  }
  const pulls = result.pull.runs;
  if (pulls.length > 0) {
    const via = pulls[0]!.redirectedTo.length > 0 ? `redirected to ${pulls[0]!.redirectedTo.join(" -> ")}, ` : "";
    lines.push(
      `  pull  (per run, median): ${via}response head after ${fmt(median(pulls.map((r) => r.headMs)))} ms, total ${fmt(median(pulls.map((r) => r.seconds * 1000)))} ms; ` +
        `CPU per run: ${cpuText(sumCpu(pulls), pulls.length, " s")}`,
    );
  }
  const m = result.manifests;
  if (m) {
    lines.push(`  manifest GET load: cores busy: ${cpuText(m.cpu, m.wallSeconds, "")}; CPU ms per request: ${cpuText(m.cpu, (m.wallSeconds * m.requestsPerSecond) / 1000, "")}`);
  }
  for (const note of result.notes) lines.push(`  note: ${note}`);
  return lines;
}

export interface RunEnding {
  started: number;
  loadAtStart: number[];
  notes: string[];
  errors: Record<string, string>;
  resultsFile: string;
  /** What the results file holds besides the time, the machine, notes and errors. */
  results: Record<string, unknown>;
}

/**
 * Prints the notes, errors and the machine line every benchmark ends with, and writes its
 * results file; the exit code is 1 when a measurement failed.
 */
export async function finishRun(run: RunEnding): Promise<number> {
  const elapsedSeconds = (Date.now() - run.started) / 1000;
  for (const note of run.notes) console.log(`note: ${note}`);
  for (const [key, error] of Object.entries(run.errors)) console.log(`ERROR ${key}: ${error.split("\n")[0]}`);
  const load = (values: number[]): string => values.map((l) => l.toFixed(2)).join(" ");
  console.log(`(${elapsedSeconds.toFixed(0)} s, ${cpus().length} CPUs, Node ${process.version}, load average ${load(run.loadAtStart)} at start, ${load(loadavg())} at end)`);
  await mkdir(dirname(run.resultsFile), { recursive: true });
  const document = {
    finishedAt: new Date().toISOString(),
    elapsedSeconds,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, platform: process.platform, loadAverageAtStart: run.loadAtStart, loadAverageAtEnd: loadavg() },
    ...run.results,
    notes: run.notes,
    errors: run.errors,
  };
  // Infinity and NaN (a ratio over a failed run) are not JSON.
  await writeFile(run.resultsFile, JSON.stringify(document, (_key, value: unknown) => (typeof value === "number" && !Number.isFinite(value) ? null : value), 2) + "\n");
  console.log(`results written to ${run.resultsFile}`);
  return Object.keys(run.errors).length > 0 ? 1 : 0;
}
