/**
 * Runs the real edge agent as a child process (the built CLI in dist/, as `npx
 * connected-registry start` runs it), on a free port, and sets up what it needs in the
 * cloud stack: a connected registry with its sync token password (get-settings).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ManagementClient } from "./management-client.js";

const CLI = join(import.meta.dirname, "../../dist/edge-agent/src/cli.js");

export interface EdgeProcess {
  /** http://127.0.0.1:<port> */
  url: string;
  /** 127.0.0.1:<port>, as registry clients name it. */
  host: string;
  dataDir: string;
  child: ChildProcess;
  /** Every JSON log line the agent wrote so far. */
  logs: Array<Record<string, unknown>>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit: a crash. */
  kill(): Promise<void>;
  /** GET /status of the running agent. */
  status(): Promise<Record<string, any>>;
}

export interface EdgeOptions {
  connectionString: string;
  /** Reuse a data folder (a restart); a new temporary one by default. */
  dataDir?: string;
  port?: number;
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

export async function startEdge(options: EdgeOptions): Promise<EdgeProcess> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "edge-agent-")));
  const child = spawn(
    process.execPath,
    [CLI, "start", "--http", "--host", "127.0.0.1", "--port", String(options.port ?? 0), "--data", dataDir, "--sync-interval", "0.5", ...(options.args ?? [])],
    { env: { ...process.env, CONNECTED_REGISTRY_CONNECTION_STRING: options.connectionString, ...options.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const logs: Array<Record<string, unknown>> = [];
  let buffered = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the edge agent did not start in 20 s: ${JSON.stringify(logs.slice(-5))}`)), 20_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.message === "connected registry serving") {
            clearTimeout(timer);
            resolve(String(entry.url));
          }
        } catch {
          logs.push({ level: "raw", message: line });
        }
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the edge agent exited with ${code} before serving: ${buffered} ${JSON.stringify(logs.slice(-5))}`));
    });
  });
  child.stdout!.resume();
  return {
    url,
    host: url.replace(/^https?:\/\//, ""),
    dataDir,
    child,
    logs,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
    kill: async () => {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    },
    status: async () => (await (await fetch(`${url}/status`)).json()) as Record<string, any>,
  };
}

export async function removeEdgeData(dataDir: string): Promise<void> {
  await rm(dataDir, { recursive: true, force: true });
}

/** Creates a connected registry and returns its connection string with a fresh password 1. */
export async function createConnectedRegistry(
  management: ManagementClient,
  body: { name: string; mode?: "ReadOnly" | "ReadWrite"; repositories: string[]; parent?: string; clientTokens?: string[]; schedule?: string; syncWindow?: string },
  parentEndpoint?: string,
): Promise<string> {
  const created = await management.call("POST", "connectedRegistries", body);
  if (created.status !== 201) throw new Error(`connected registry create answered ${created.status}: ${JSON.stringify(created.body)}`);
  const settings = await management.call("POST", `connectedRegistries/${body.name}/settings`, { parentProtocol: "http", generatePassword: 1 });
  if (settings.status !== 200) throw new Error(`get-settings answered ${settings.status}: ${JSON.stringify(settings.body)}`);
  const connectionString = settings.body.connectionString as string;
  return parentEndpoint ? connectionString.replace(/ParentGatewayEndpoint=[^;]+/, `ParentGatewayEndpoint=${parentEndpoint}`) : connectionString;
}

/** Polls until `check` returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 20_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached in ${timeoutMs} ms${last ? `: ${String(last)}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
