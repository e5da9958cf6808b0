/**
 * The edge agent as the benchmark runs it: the bundle `npm run build` makes
 * (edge-agent/dist/connected-registry.mjs, the package's bin: what `npx connected-registry`
 * and the container image run, one file with its dependencies inside, not the tsc output with
 * its hundreds of modules to resolve at start-up) in a child process of its own, plain HTTP on loopback,
 * a fresh data folder. (The tests have their own helper in test/support/edge.ts; bench/
 * does not import from test/.)
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
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
    env: { ...process.env, CONNECTED_REGISTRY_CONNECTION_STRING: options.connectionString },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let logs = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    logs = (logs + chunk.toString()).slice(-4000);
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
  return { baseUrl, host: `127.0.0.1:${port}`, pid: child.pid!, spawnedAt, servingAt: performance.now(), status, lastLogs: () => logs.trim(), stop };
}

/** Polls GET /status until the full sync is done and a sync cycle has completed; returns performance.now() then. */
export async function waitUntilSynced(edge: EdgeAgentProcess, timeoutMs: number, pollMs = 100): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await edge.status();
    if (status?.fullSyncDone && status.lastSyncTime) return performance.now();
    if (Date.now() > deadline) {
      throw new Error(`the edge agent was not synced within ${timeoutMs / 1000} s: status ${JSON.stringify(status)}; log: ${edge.lastLogs()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
