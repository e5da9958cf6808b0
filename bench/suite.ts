/** The measurements for one registry: blob push and pull, then manifest GET load. */
import { randomFillSync } from "node:crypto";
import { Agent } from "node:http";
import { pullBlob, pushBlobStreamed, sha256Digest, type PullTiming, type PushTiming } from "./blobs.js";
import { addCpu, cpuDelta, OTHER, readCpu, waitForQuietMachine, type ProcessRef } from "./cpu.js";
import { loadManifestGets, pushSmallImage, type ManifestLoadOptions, type ManifestLoadResult } from "./manifests.js";
import { median, mibPerSecond, MIB } from "./stats.js";
import type { Target } from "./target.js";

export interface SuiteOptions {
  /** Reused for every run, refilled with fresh random bytes each time. */
  blobBuffer: Buffer;
  runs: number;
  load: ManifestLoadOptions;
  /** Epoch ms after which no further run starts. */
  deadline: number;
  log: (message: string) => void;
}

type CpuSeconds = Record<string, number>;

export interface SuiteResult {
  target: string;
  baseUrl: string;
  blobBytes: number;
  push: { runs: Array<PushTiming & { mibPerSecond: number; cpu: CpuSeconds }>; medianMiBps: number };
  pull: { runs: Array<PullTiming & { mibPerSecond: number; cpu: CpuSeconds }>; medianMiBps: number };
  /** cpu covers the warm-up too; wallSeconds is the same span, so cpu / wallSeconds is cores busy. */
  manifests?: ManifestLoadResult & { cpu: CpuSeconds; wallSeconds: number };
  notes: string[];
}

const BLOB_REPOSITORY = "bench/blob";
/** How long to wait for other work on the machine to die down before measuring. */
const QUIET_WAIT_MS = 8_000;
/** Other processes busier than this share of a phase's wall time make its figure suspect. */
const INTERFERENCE_SHARE = 0.15;
const IMAGE_REPOSITORY = "bench/image";
const IMAGE_TAG = "v1";

export async function runSuite(target: Target, options: SuiteOptions): Promise<SuiteResult> {
  const { blobBuffer: data, log } = options;
  const processes: ProcessRef[] = [{ label: "bench-client", pid: process.pid }, ...target.processes];
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const result: SuiteResult = {
    target: target.key,
    baseUrl: target.baseUrl.href,
    blobBytes: data.length,
    push: { runs: [], medianMiBps: Number.NaN },
    pull: { runs: [], medianMiBps: Number.NaN },
    notes: [],
  };
  try {
    // Warm-up, not recorded: first connections, SDK clients, JIT, the repository's creation.
    const warm = data.subarray(0, MIB);
    randomFillSync(warm);
    const warmDigest = sha256Digest(warm);
    await pushBlobStreamed(target.baseUrl, BLOB_REPOSITORY, warm, warmDigest, agent);
    await pullBlob(target.baseUrl, BLOB_REPOSITORY, warmDigest, warm.length, agent);

    await settle(result, "blob runs", log);
    for (let run = 0; run < options.runs; run++) {
      if (Date.now() > options.deadline) {
        result.notes.push(`blob runs stopped after ${run} of ${options.runs}: time budget spent`);
        break;
      }
      randomFillSync(data);
      const digest = sha256Digest(data);
      const before = readCpu(processes);
      const push = await pushBlobStreamed(target.baseUrl, BLOB_REPOSITORY, data, digest, agent);
      const pushed = readCpu(processes);
      const pull = await pullBlob(target.baseUrl, BLOB_REPOSITORY, digest, data.length, agent);
      const pulled = readCpu(processes);
      result.push.runs.push({ ...push, mibPerSecond: mibPerSecond(data.length, push.seconds), cpu: cpuDelta(before, pushed) });
      result.pull.runs.push({ ...pull, mibPerSecond: mibPerSecond(data.length, pull.seconds), cpu: cpuDelta(pushed, pulled) });
      checkInterference(result, `push run ${run + 1}`, result.push.runs.at(-1)!.cpu, push.seconds);
      checkInterference(result, `pull run ${run + 1}`, result.pull.runs.at(-1)!.cpu, pull.seconds);
      log(
        `  ${target.key} run ${run + 1}: push ${fmt(mibPerSecond(data.length, push.seconds))} MiB/s ` +
          `(POST ${fmt(push.postMs)} ms, PATCH ${fmt(push.patchMs)} ms, PUT ${fmt(push.putMs)} ms), ` +
          `pull ${fmt(mibPerSecond(data.length, pull.seconds))} MiB/s (head after ${fmt(pull.headMs)} ms${pull.redirectedTo.length ? `, via ${pull.redirectedTo.join(" -> ")}` : ""})`,
      );
    }
    result.push.medianMiBps = median(result.push.runs.map((r) => r.mibPerSecond));
    result.pull.medianMiBps = median(result.pull.runs.map((r) => r.mibPerSecond));

    if (Date.now() > options.deadline) {
      result.notes.push("manifest load skipped: time budget spent");
    } else {
      const manifest = await pushSmallImage(target.baseUrl, IMAGE_REPOSITORY, IMAGE_TAG, agent);
      await settle(result, "manifest load", log);
      const before = readCpu(processes);
      const began = Date.now();
      const load = await loadManifestGets(target.baseUrl, IMAGE_REPOSITORY, IMAGE_TAG, manifest, options.load);
      result.manifests = { ...load, cpu: cpuDelta(before, readCpu(processes)), wallSeconds: (Date.now() - began) / 1000 };
      checkInterference(result, "manifest load", result.manifests.cpu, result.manifests.wallSeconds);
      log(
        `  ${target.key} manifests: ${fmt(load.requestsPerSecond)} req/s over ${load.requests} requests, ` +
          `p50 ${fmt(load.p50Ms)} ms, p99 ${fmt(load.p99Ms)} ms, ${load.failures} failures`,
      );
      if (load.failures > 0) result.notes.push(`manifest GET: ${load.failures} responses were not 200 with the manifest; first: ${load.firstFailure}`);
    }
    return result;
  } finally {
    agent.destroy();
  }
}

async function settle(result: SuiteResult, phase: string, log: (message: string) => void): Promise<void> {
  const busy = await waitForQuietMachine(QUIET_WAIT_MS);
  if (busy !== undefined && busy >= 0.25) {
    const note = `before ${phase}: the machine stayed busy (${busy.toFixed(2)} CPUs) for ${QUIET_WAIT_MS / 1000} s without the benchmark; figures may be low`;
    result.notes.push(note);
    log(`  ${result.target}: ${note}`);
  }
}

function checkInterference(result: SuiteResult, phase: string, cpu: CpuSeconds, wallSeconds: number): void {
  const other = cpu[OTHER] ?? 0;
  if (other > INTERFERENCE_SHARE * wallSeconds) {
    result.notes.push(`${phase}: other processes on the machine used ${other.toFixed(2)} CPU-s in ${wallSeconds.toFixed(2)} s`);
  }
}

export function sumCpu(runs: Array<{ cpu: CpuSeconds }>): CpuSeconds {
  const total: CpuSeconds = {};
  for (const run of runs) addCpu(total, run.cpu);
  return total;
}

export function fmt(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}
