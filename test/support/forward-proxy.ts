/**
 * A real forward proxy for tests: Debian's tinyproxy (installed by .ci/run), started on a free
 * loopback port with a config file of its own, logging every request it handles to a file the
 * test reads (its access log is the proof that traffic went through it).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./edge.js";

export interface ForwardProxy {
  /** http://127.0.0.1:<port>, no credentials. */
  url: string;
  port: number;
  /** The proxy URL with credentials, as HTTP_PROXY / HTTPS_PROXY carry them. */
  urlWith(user: string, password: string): string;
  /** The request lines the proxy logged ("GET http://host/path HTTP/1.1", "CONNECT host:port HTTP/1.1"). */
  requests(): Promise<string[]>;
  /** The whole log, for failure messages. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

export interface ForwardProxyOptions {
  /** Require Basic proxy authentication with this user and password. */
  basicAuth?: { user: string; password: string };
  /** Refuse clients from these addresses (tinyproxy `Deny`): an ACL that shuts the agent out. */
  deny?: string[];
}

export async function startForwardProxy(options: ForwardProxyOptions = {}): Promise<ForwardProxy> {
  const dir = await mkdtemp(join(tmpdir(), "forward-proxy-"));
  const port = await freePort();
  const logFile = join(dir, "tinyproxy.log");
  const config = [
    `Port ${port}`,
    "Listen 127.0.0.1",
    "Timeout 60",
    `LogFile "${logFile}"`,
    // Info logs each request line ("Request (file descriptor N): GET http://... HTTP/1.1").
    "LogLevel Info",
    "MaxClients 100",
    // No ConnectPort line: CONNECT to any port (the test parents listen on free ports, not 443).
    ...(options.basicAuth ? [`BasicAuth ${options.basicAuth.user} ${options.basicAuth.password}`] : []),
    ...(options.deny ?? []).map((address) => `Deny ${address}`),
  ].join("\n");
  const configFile = join(dir, "tinyproxy.conf");
  await writeFile(configFile, `${config}\n`);
  const child: ChildProcess = spawn("tinyproxy", ["-d", "-c", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await waitForPort(port, child, () => stderr);
  const log = async (): Promise<string> => readFile(logFile, "utf8").catch(() => "");
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    urlWith: (user, password) => `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    log,
    requests: async () => [...(await log()).matchAll(/Request \(file descriptor \d+\): (.*)$/gm)].map((match) => match[1]!),
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tinyproxy exited with ${child.exitCode}: ${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`tinyproxy did not listen on ${port} within 10 s: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
