/**
 * Blob GETs timed by curl writing to /dev/null: a client that does not hash, so the figure is
 * the server's (a hashing Node client tops out at a few hundred MiB/s and hides a server's
 * slow samples). The targets are interleaved sample by sample, so the machine's drift hits
 * each alike; each target gets `samples` timings (seconds, curl's time_total).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { assertLoopback } from "./http.js";

const execFileAsync = promisify(execFile);

export interface CurlTarget {
  label: string;
  url: URL;
  /** e.g. Authorization; passed on curl's command line (loopback-only benchmark credentials). */
  headers?: Record<string, string>;
}

/** One GET; rejects unless curl saw 200 with `bytes` bytes. */
export async function curlGet(target: CurlTarget, bytes: number): Promise<number> {
  assertLoopback(target.url);
  const args = ["--silent", "--show-error", "--output", "/dev/null", "--write-out", "%{http_code} %{size_download} %{time_total}"];
  for (const [name, value] of Object.entries(target.headers ?? {})) args.push("--header", `${name}: ${value}`);
  args.push(target.url.href);
  const { stdout } = await execFileAsync("curl", args, { timeout: 60_000 });
  const [status, size, seconds] = stdout.trim().split(" ");
  if (status !== "200" || Number(size) !== bytes) throw new Error(`curl GET ${target.label}: status ${status}, ${size} bytes (expected 200, ${bytes})`);
  return Number(seconds);
}

export async function interleavedCurlGets(targets: CurlTarget[], bytes: number, samples: number): Promise<Record<string, number[]>> {
  const times: Record<string, number[]> = Object.fromEntries(targets.map((t) => [t.label, []]));
  for (const target of targets) await curlGet(target, bytes); // warm-up, unrecorded
  for (let i = 0; i < samples; i++) {
    // Rotate who goes first, so no target always follows the same neighbour.
    for (let k = 0; k < targets.length; k++) {
      const target = targets[(i + k) % targets.length]!;
      times[target.label]!.push(await curlGet(target, bytes));
    }
  }
  return times;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentileOf(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}
