/**
 * The edge's bandwidth cap (issue 13, point 5), measured from outside: a fresh edge started
 * with `--max-bandwidth` syncs a repository that holds more than the cap moves in the
 * measuring time, and its GET /status (progress.bytesFetched, live) is read at the start and
 * the end of a 30 s stretch taken once the sync is under way. The goal is the cap within
 * ±10%. Called from bench/edge.ts with a repository it already filled (the first-sync images).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { startEdgeAgent } from "./edge-process.js";
import { MIB } from "./stats.js";

export const BANDWIDTH_CAP_BYTES = 4 * MIB;
const MEASURE_SECONDS = 30;
/** Bytes fetched before the stretch starts: the handshake and first manifests are behind. */
const WARM_BYTES = 2 * MIB;
const STEP_SECONDS = 5;
const POLL_MS = 20;
const START_TIMEOUT_MS = 60_000;

export interface BandwidthCapFigures {
  capBytesPerSecond: number;
  seconds: number;
  bytes: number;
  measuredBytesPerSecond: number;
  /** The rate in each STEP_SECONDS part of the stretch: steady, or bursts averaging out? */
  stepBytesPerSecond: number[];
}

export interface BandwidthCapContext {
  /** The cloud's management API (bench/edge.ts `management`). */
  manage: (method: string, path: string, body?: unknown) => Promise<any>;
  workDir: string;
  /** A repository in the cloud holding more than the cap moves in 30 s (plus the warm-up). */
  repository: string;
  log: (message: string) => void;
}

export async function benchBandwidthCap(context: BandwidthCapContext): Promise<BandwidthCapFigures> {
  const { manage, workDir, repository, log } = context;
  const name = "benchcapped";
  await manage("POST", "connectedRegistries", { name, mode: "ReadOnly", repositories: [repository] });
  const connectionString = (await manage("POST", `connectedRegistries/${name}/settings`, { parentProtocol: "http", generatePassword: 1 })).connectionString as string;
  const dataDir = join(workDir, `edge-${name}`);
  await mkdir(dataDir, { recursive: true });
  log(`syncing ${repository} into an edge capped at ${BANDWIDTH_CAP_BYTES / MIB} MiB/s, measured over ${MEASURE_SECONDS} s...`);
  const edge = await startEdgeAgent({ connectionString, dataDir, args: ["--max-bandwidth", `${BANDWIDTH_CAP_BYTES / MIB}MiB/s`] });
  try {
    const fetched = async (): Promise<number> => Number((await edge.status())?.progress?.bytesFetched ?? 0);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while ((await fetched()) < WARM_BYTES) {
      if (Date.now() > deadline) throw new Error(`the capped edge fetched less than ${WARM_BYTES} bytes in ${START_TIMEOUT_MS / 1000} s: ${edge.lastLogs()}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const samples: Array<{ at: number; bytes: number }> = [{ at: performance.now(), bytes: await fetched() }];
    for (let step = 1; step <= MEASURE_SECONDS / STEP_SECONDS; step++) {
      const due = samples[0]!.at + step * STEP_SECONDS * 1000;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
      samples.push({ at: performance.now(), bytes: await fetched() });
    }
    const first = samples[0]!;
    const last = samples.at(-1)!;
    const seconds = (last.at - first.at) / 1000;
    const bytes = last.bytes - first.bytes;
    const status = await edge.status();
    if (status?.fullSyncDone) throw new Error(`the sync finished within the measuring time: put more than ${((BANDWIDTH_CAP_BYTES * (MEASURE_SECONDS + 5)) / MIB).toFixed(0)} MiB in ${repository}`);
    const figures: BandwidthCapFigures = {
      capBytesPerSecond: BANDWIDTH_CAP_BYTES,
      seconds,
      bytes,
      measuredBytesPerSecond: bytes / seconds,
      stepBytesPerSecond: samples.slice(1).map((sample, i) => (sample.bytes - samples[i]!.bytes) / ((sample.at - samples[i]!.at) / 1000)),
    };
    log(
      `  bandwidth cap ${(BANDWIDTH_CAP_BYTES / MIB).toFixed(2)} MiB/s: measured ${(figures.measuredBytesPerSecond / MIB).toFixed(3)} MiB/s over ${seconds.toFixed(1)} s ` +
        `(${((figures.measuredBytesPerSecond / BANDWIDTH_CAP_BYTES) * 100).toFixed(1)}% of the cap; per ${STEP_SECONDS} s: ${figures.stepBytesPerSecond.map((rate) => (rate / MIB).toFixed(2)).join(", ")} MiB/s)`,
    );
    return figures;
  } finally {
    await edge.stop();
  }
}

/** The table's row: target against measured, and whether it is within ±10%. */
export function bandwidthCapRows(figures: BandwidthCapFigures | undefined): string[][] {
  if (!figures) return [];
  const ratio = figures.measuredBytesPerSecond / figures.capBytesPerSecond;
  const ok = Math.abs(ratio - 1) <= 0.1;
  return [
    [
      `sync under --max-bandwidth ${figures.capBytesPerSecond / MIB} MiB/s, MiB/s over ${figures.seconds.toFixed(0)} s: measured | cap`,
      (figures.measuredBytesPerSecond / MIB).toFixed(3),
      (figures.capBytesPerSecond / MIB).toFixed(3),
      `${ratio.toFixed(3)}${ok ? "  ok (±10%)" : "  OUTSIDE ±10%"}`,
    ],
  ];
}
