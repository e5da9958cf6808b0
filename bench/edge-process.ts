/**
 * The edge agent as the benchmark runs it: the bundle `npm run build` makes
 * (edge-agent/dist/connected-registry.mjs, the package's bin: what `npx connected-registry`
 * and the container image run, one file with its dependencies inside, not the tsc output with
 * its hundreds of modules to resolve at start-up) in a child process of its own, plain HTTP on loopback,
 * a fresh data folder, with the environment the image and the systemd unit give it
 * (MALLOC_HUGE_PAGES). (The tests have their own helper in test/support/edge.ts; bench/
 * does not import from test/.)
 */
import { spawn } from "node:child_process";
import { appendFileSync, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MALLOC_HUGE_PAGES } from "../scripts/edge-image/image-config.js";
import { freePort, hasExited, stopChild } from "./processes.js";

const CLI = fileURLToPath(new URL("../../edge-agent/dist/connected-registry.mjs", import.meta.url));
const START_TIMEOUT_MS = 30_000;

export interface EdgeAgentProcess {
  /** http://127.0.0.1:<port> */
  baseUrl: URL;
  /** 127.0.0.1:<port>, as registry clients name it (the token service). */
  host: string;
  pid: number;
  /** When the process was spawned (performance.now()). */
  spawnedAt: number;
  /** When GET /status first answered (performance.now()): start-up is servingAt - spawnedAt. */
  servingAt: number;
  /** The agent's data folder. */
  dataDir: string;
  /** GET /status, or undefined while the agent does not answer. */
  status(): Promise<Record<string, any> | undefined>;
  /** The last log lines, for error messages. */
  lastLogs(): string;
  stop(): Promise<void>;
}

export interface EdgeAgentOptions {
  connectionString: string;
  dataDir: string;
  /** Seconds between feed reads; the agent's default (2) when absent. */
  syncIntervalSeconds?: number;
  /** More flags for `connected-registry start` (--max-bandwidth ...). */
  args?: string[];
  /** Another bundle to run (bench/edge-first-sync.ts compares two builds); the built one when absent. */
  cli?: string;
  /** Extra environment variables for the agent's process (GLIBC_TUNABLES= runs it without MALLOC_HUGE_PAGES). */
  env?: Record<string, string>;
  /** Flags for node itself (--cpu-prof ...). */
  nodeArgs?: string[];
}

export async function startEdgeAgent(options: EdgeAgentOptions): Promise<EdgeAgentProcess> {
  const port = await freePort();
  const args = [...(options.nodeArgs ?? []), options.cli ?? CLI, "start", "--http", "--host", "127.0.0.1", "--port", String(port), "--data", options.dataDir, "--log-level", "warn"];
  if (options.syncIntervalSeconds !== undefined) args.push("--sync-interval", String(options.syncIntervalSeconds));
  args.push(...(options.args ?? []));
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, args, {
    // As the image and the systemd unit start it (MALLOC_HUGE_PAGES); options.env may override it.
    env: { ...process.env, ...MALLOC_HUGE_PAGES, ...options.env, CONNECTED_REGISTRY_CONNECTION_STRING: options.connectionString },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let logs = "";
  // BENCH_AGENT_LOG=file: every agent's whole log is appended there too (a timeline with --agent-arg=--log-level=debug).
  const logFile = process.env.BENCH_AGENT_LOG;
  child.stderr?.on("data", (chunk: Buffer) => {
    logs = (logs + chunk.toString()).slice(-4000);
    if (logFile) appendFileSync(logFile, chunk);
  });
  const baseUrl = new URL(`http://127.0.0.1:${port}`);
  const stop = (): Promise<void> => stopChild(child, 10_000);
  const status = async (): Promise<Record<string, any> | undefined> => {
    try {
      const response = await fetch(new URL("/status", baseUrl));
      return response.ok ? ((await response.json()) as Record<string, any>) : undefined;
    } catch {
      return undefined;
    }
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await status())) {
    if (hasExited(child)) throw new Error(`the edge agent exited (${child.exitCode ?? child.signalCode}) before serving: ${logs.trim()}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the edge agent did not serve within ${START_TIMEOUT_MS / 1000} s: ${logs.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { baseUrl, host: `127.0.0.1:${port}`, pid: child.pid!, dataDir: options.dataDir, spawnedAt, servingAt: performance.now(), status, lastLogs: () => logs.trim(), stop };
}

/**
 * Waits until the full sync is done and a sync cycle has completed (what GET /status calls
 * fullSyncDone and lastSyncTime); returns performance.now() then. Seen by watching the data
 * folder's state.json, which the agent replaces (rename) at each change: the moment is exact,
 * and the agent is not asked anything while it syncs (polling /status every 25 ms put up to
 * 25 ms on a ~1 s figure and cost the agent CPU). GET /status, every `pollMs`, is the fallback
 * and confirms the answer.
 */
export async function waitUntilSynced(edge: EdgeAgentProcess, timeoutMs: number, pollMs = 100): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const stateFile = join(edge.dataDir, "state.json");
  const syncedOnDisk = async (): Promise<boolean> => {
    try {
      const state = JSON.parse(await readFile(stateFile, "utf8")) as { cursor?: unknown; lastSyncTime?: unknown };
      return Boolean(state.cursor) && Boolean(state.lastSyncTime);
    } catch {
      return false;
    }
  };
  let seenAt: number | undefined;
  let wake: (() => void) | undefined;
  const watcher = watch(edge.dataDir, (_event, name) => {
    if (name !== "state.json" || seenAt !== undefined) return;
    void syncedOnDisk().then((synced) => {
      if (synced && seenAt === undefined) {
        seenAt = performance.now();
        wake?.();
      }
    });
  });
  try {
    for (;;) {
      if (seenAt === undefined && (await syncedOnDisk())) seenAt = performance.now();
      if (seenAt !== undefined) {
        const status = await edge.status();
        if (status?.fullSyncDone && status.lastSyncTime) return seenAt;
      }
      if (Date.now() > deadline) {
        throw new Error(`the edge agent was not synced within ${timeoutMs / 1000} s: status ${JSON.stringify(await edge.status())}; log: ${edge.lastLogs()}`);
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, pollMs);
      });
    }
  } finally {
    watcher.close();
  }
}
