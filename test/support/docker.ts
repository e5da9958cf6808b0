/**
 * A real Docker engine (Debian's docker.io) for a test, confined to a temporary folder:
 * its own data root, exec root, pid file, socket and client configuration, so it neither
 * touches nor sees another engine on the machine. Started as root the way DESIGN.md says
 * works in this CI's containers: no iptables, no bridge network, the vfs storage driver
 * (no kernel overlay). It runs no containers here; it logs in and pulls, as a user's
 * `docker pull` does.
 *
 * Commands never throw for a non-zero exit (tests assert on the exit code and output, as
 * a user reads them); a command that hangs past its timeout does.
 */
import { execFile, spawn, type ChildProcess, type ExecFileException } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CommandResult } from "./podman.js";

/** Debian's client, which matches its daemon; another `docker` on PATH may be a newer build. */
const DOCKER_CLIENT = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
const START_TIMEOUT_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 120_000;

export class DockerEngine {
  private constructor(
    readonly dir: string,
    private readonly daemon: ChildProcess,
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: () => string,
  ) {}

  static async start(): Promise<DockerEngine> {
    const dir = await mkdtemp(join(tmpdir(), "docker-e2e-"));
    for (const name of ["data", "exec", "config", "home"]) await mkdir(join(dir, name), { mode: 0o700 });
    const socket = join(dir, "docker.sock");
    const daemon = spawn(
      "dockerd",
      [
        "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
        "--data-root", join(dir, "data"),
        "--exec-root", join(dir, "exec"),
        // Default /var/run/docker.pid: a second engine on the machine would refuse to start.
        "--pidfile", join(dir, "docker.pid"),
        "--host", `unix://${socket}`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let output = "";
    daemon.stderr!.on("data", (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-20_000);
    });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: join(dir, "home"),
      DOCKER_HOST: `unix://${socket}`,
      DOCKER_CONFIG: join(dir, "config"),
    };
    const engine = new DockerEngine(dir, daemon, env, () => output);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (daemon.exitCode !== null) throw new Error(`dockerd exited with ${daemon.exitCode} while starting:\n${output}`);
      if (existsSync(socket) && (await engine.run(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 5_000 }).catch(() => undefined))?.code === 0) return engine;
      if (Date.now() > deadline) {
        await engine.stop();
        throw new Error(`dockerd did not answer within ${START_TIMEOUT_MS} ms:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** The variables that point a `docker` client at this engine (for a shell script that runs `docker`). */
  get clientEnv(): { DOCKER_HOST: string; DOCKER_CONFIG: string } {
    return { DOCKER_HOST: this.env.DOCKER_HOST!, DOCKER_CONFIG: this.env.DOCKER_CONFIG! };
  }

  /** Runs `docker <args>` against this engine. */
  run(args: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<CommandResult> {
    const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const child = execFile(DOCKER_CLIENT, args, { env: this.env, timeout, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 }, (error: ExecFileException | null, stdout, stderr) => {
        if (error && (error.killed || error.signal)) {
          reject(new Error(`docker ${args.join(" ")} did not finish within ${timeout} ms\n${stderr}\ndockerd:\n${this.log().slice(-3000)}`));
          return;
        }
        if (error && typeof error.code !== "number") {
          reject(error);
          return;
        }
        resolve({ code: error ? Number(error.code) : 0, stdout: String(stdout), stderr: String(stderr) });
      });
      child.stdin?.end(options.input ?? "");
    });
  }

  /** `docker login` with the password on stdin, as the docs recommend (never on the command line). */
  login(host: string, username: string, password: string): Promise<CommandResult> {
    return this.run(["login", "--username", username, "--password-stdin", host], { input: password });
  }

  /** Stops the daemon (and the containerd it started) and removes everything it wrote. */
  async stop(): Promise<void> {
    if (this.daemon.exitCode === null && this.daemon.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.daemon.once("exit", () => resolve()));
      this.daemon.kill("SIGTERM");
      const timer = setTimeout(() => this.daemon.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
