/**
 * Runs the real edge agent as a child process (the built CLI in dist/, as `npx
 * connected-registry start` runs it), on a free port, and sets up what it needs in the
 * cloud stack: a connected registry with its sync token password (get-settings).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ManagementClient } from "./management-client.js";
import { AuthorizedClient } from "./registry-client.js";

const execFileAsync = promisify(execFile);
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
  /** Given to the agent as CONNECTED_REGISTRY_CONNECTION_STRING; leave it out to pass it another way (args, env). */
  connectionString?: string;
  /** Reuse a data folder (a restart); a new temporary one by default. */
  dataDir?: string;
  port?: number;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Listen on a port chosen now and report 127.0.0.1:<port> as --login-server (children's get-settings names it). */
  advertise?: boolean;
  /** Serve HTTPS with this certificate and key (PEM files) instead of plain HTTP. */
  tls?: { cert: string; key: string };
  /** The program that runs `connected-registry` (an installed bin); the built CLI under node by default. */
  command?: string[];
  /** The agent logs nothing (logging None): know it serves when GET /status answers, not by its log line. */
  quiet?: boolean;
}

export async function startEdge(options: EdgeOptions): Promise<EdgeProcess> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "edge-agent-")));
  const port = options.port ?? (options.advertise || options.quiet ? await freePort() : 0);
  const advertised = options.advertise ? ["--login-server", `127.0.0.1:${port}`] : [];
  const [program, ...programArgs] = options.command ?? [process.execPath, CLI];
  const child = spawn(
    program!,
    [...programArgs, "start", ...(options.tls ? ["--tls-cert", options.tls.cert, "--tls-key", options.tls.key] : ["--http"]), "--host", "127.0.0.1", "--port", String(port), "--data", dataDir, "--sync-interval", "0.5", ...advertised, ...(options.args ?? [])],
    {
      env: { ...process.env, ...(options.connectionString !== undefined ? { CONNECTED_REGISTRY_CONNECTION_STRING: options.connectionString } : {}), ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const logs: Array<Record<string, unknown>> = [];
  let buffered = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the edge agent did not start in 20 s: ${JSON.stringify(logs.slice(-5))}`)), 20_000);
    if (options.quiet) {
      const base = `${options.tls ? "https" : "http"}://127.0.0.1:${port}`;
      void eventually(() => httpsAwareGet(`${base}/status`, options.tls?.cert).then(() => true), 20_000, "GET /status of the quiet agent").then(
        () => {
          clearTimeout(timer);
          resolve(base);
        },
        () => {},
      );
    }
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
    status: async () => JSON.parse(await httpsAwareGet(`${url}/status`, options.tls?.cert)) as Record<string, any>,
  };
}

/** GET over http, or https trusting the edge's own certificate (fetch cannot take a CA). */
export async function httpsAwareGet(url: string, caFile?: string, headers: Record<string, string> = {}): Promise<string> {
  if (!url.startsWith("https:")) return (await fetch(url, { headers })).text();
  const ca = caFile ? await readFile(caFile) : undefined;
  return new Promise((resolve, reject) => {
    https
      .get(url, { ...(ca ? { ca } : {}), headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        response.on("error", reject);
      })
      .on("error", reject);
  });
}

export async function removeEdgeData(dataDir: string): Promise<void> {
  await rm(dataDir, { recursive: true, force: true });
}

/** Creates a connected registry and returns its connection string with a fresh password 1. */
export async function createConnectedRegistry(
  management: ManagementClient,
  body: { name: string; mode?: "ReadOnly" | "ReadWrite"; repositories: string[]; parent?: string; clientTokens?: string[]; schedule?: string; syncWindow?: string; repositoryFilters?: unknown[] },
  parentEndpoint?: string,
): Promise<string> {
  const created = await management.call("POST", "connectedRegistries", body);
  if (created.status !== 201) throw new Error(`connected registry create answered ${created.status}: ${JSON.stringify(created.body)}`);
  // A child of an edge gets its parent's reported address and protocol; the test cloud is plain HTTP.
  const settings = await management.call("POST", `connectedRegistries/${body.name}/settings`, body.parent ? { generatePassword: 1 } : { parentProtocol: "http", generatePassword: 1 });
  if (settings.status !== 200) throw new Error(`get-settings answered ${settings.status}: ${JSON.stringify(settings.body)}`);
  const connectionString = settings.body.connectionString as string;
  return parentEndpoint ? connectionString.replace(/ParentGatewayEndpoint=[^;]+/, `ParentGatewayEndpoint=${parentEndpoint}`) : connectionString;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A self-signed certificate for 127.0.0.1 (openssl), as an operator would make for a test edge. */
export async function selfSignedCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "edge-cert.pem");
  const key = join(dir, "edge-key.pem");
  await execFileAsync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
  ]);
  return { cert, key };
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

/** A registry client for an edge serving HTTPS with a certificate `fetch` cannot be told to trust. */
export class TlsAuthorizedClient extends AuthorizedClient {
  constructor(
    baseUrl: string,
    private readonly auth: string,
    private readonly ca: Buffer,
  ) {
    super(baseUrl, auth);
  }

  override async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("Authorization", this.auth);
    const body = init.body === undefined || init.body === null ? undefined : Buffer.from(init.body as string | Uint8Array);
    if (body) headers.set("Content-Length", String(body.byteLength));
    return new Promise((resolve, reject) => {
      const request = https.request(`${this.baseUrl}${path}`, { method: init.method ?? "GET", headers: Object.fromEntries(headers), ca: this.ca }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(response.headers)) if (typeof value === "string") responseHeaders.set(name, value);
          const status = response.statusCode ?? 0;
          resolve(new Response(status === 204 || status === 304 || init.method === "HEAD" ? null : Buffer.concat(chunks), { status, headers: responseHeaders }));
        });
      });
      request.on("error", reject);
      request.end(body);
    });
  }
}
