/**
 * The README's quickstart, run as it is written (issue 16): the fenced blocks marked
 * `sh local-stack` and `sh quickstart` are read from README.md at test time, not copied, and
 * run by bash from a fresh data folder through `docker pull` at the edge with Debian's Docker
 * engine. If the README drifts from what works, this fails.
 *
 * What the test changes, and only that:
 * - `npm ci` in the local-stack block is skipped (the test run has installed already);
 * - the ports: `127.0.0.1:5000` becomes the registry's free port (and `PORT` is set for
 *   `npm start`), `8080` the edge's;
 * - the environment: `LOCAL_DATA_DIR` a fresh folder, `HOME` a fresh folder (so `~/quickstart`
 *   and the saved profile are the test's), `DOCKER_HOST`/`DOCKER_CONFIG` the test's engine;
 * - what a person pastes: the admin key that `npm start` printed goes to the quickstart's
 *   standard input, where `registry-admin login` reads it;
 * - the quickstart runs with `set -e` (a failing step stops it) and `shopt -s expand_aliases`
 *   (bash expands aliases only in interactive shells otherwise).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerEngine } from "../support/docker.js";

const ROOT = join(import.meta.dirname, "../..");

/** The body of the README's fenced block whose info string is `sh <name>`. */
export function readmeBlock(readme: string, name: string): string {
  const blocks = [...readme.matchAll(/^```sh ([\w-]+)\n([\s\S]*?)^```$/gm)].filter((match) => match[1] === name);
  if (blocks.length !== 1) throw new Error(`README.md has ${blocks.length} blocks marked "sh ${name}", not one`);
  return blocks[0]![2]!;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Script {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number>;
}

/** Runs a script with bash in its own process group (so the edge agent it starts in the background stops with it). */
function runScript(file: string, cwd: string, env: NodeJS.ProcessEnv, input?: string): Script {
  const child = spawn("bash", [file], { cwd, env, detached: true, stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stdin!.end(input ?? "");
  const exited = new Promise<number>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  return { child, output: () => output, exited };
}

async function stopGroup(script: Script | undefined): Promise<void> {
  if (!script?.child.pid) return;
  try {
    process.kill(-script.child.pid, "SIGTERM");
  } catch {
    return; // the group is gone
  }
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      process.kill(-script.child.pid, 0);
    } catch {
      return;
    }
    if (Date.now() > deadline) {
      process.kill(-script.child.pid, "SIGKILL");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("the README quickstart, as written", () => {
  let work: string;
  let docker: DockerEngine;
  let stack: Script | undefined;
  let quickstart: Script | undefined;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "readme-quickstart-"));
    docker = await DockerEngine.start();
  });

  afterAll(async () => {
    await stopGroup(quickstart);
    await stopGroup(stack);
    await docker?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("goes from a fresh data folder to docker pull at the edge", { timeout: 300_000 }, async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    const registryPort = await freePort();
    const edgePort = await freePort();
    const home = join(work, "home");
    await mkdir(home);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, LOCAL_DATA_DIR: join(work, "local"), PORT: String(registryPort) };

    const stackBlock = readmeBlock(readme, "local-stack");
    expect(stackBlock).toMatch(/^npm ci$/m);
    await writeFile(join(work, "local-stack.sh"), `set -e\n${stackBlock.replace(/^npm ci$/m, "")}`);
    const started = Date.now();
    stack = runScript(join(work, "local-stack.sh"), ROOT, env);
    let adminKey: string | undefined;
    while (!adminKey) {
      adminKey = /ADMIN KEY \(shown once[^)]*\): (\S+)/.exec(stack.output())?.[1];
      if (stack.child.exitCode !== null) throw new Error(`npm start exited:\n${stack.output()}`);
      if (Date.now() - started > 120_000) throw new Error(`npm start printed no admin key within 120 s:\n${stack.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await expect.poll(() => stack!.output(), { timeout: 60_000 }).toContain("Local stack is up");
    console.log(`npm start: up after ${Date.now() - started} ms`);

    const quickstartBlock = readmeBlock(readme, "quickstart");
    expect(quickstartBlock).toContain("127.0.0.1:5000");
    expect(quickstartBlock).toContain("--parent-protocol http");
    const script = quickstartBlock.replaceAll("127.0.0.1:5000", `127.0.0.1:${registryPort}`).replaceAll("8080", String(edgePort));
    await writeFile(join(work, "quickstart.sh"), `set -e\nshopt -s expand_aliases\n${script}`);
    const quickstartStarted = Date.now();
    quickstart = runScript(join(work, "quickstart.sh"), ROOT, { ...env, ...docker.clientEnv }, `${adminKey}\n`);
    const code = await quickstart.exited;
    const output = quickstart.output();
    console.log(`quickstart block: ${Date.now() - quickstartStarted} ms`);
    expect(code, output).toBe(0);

    // What a person sees: the login saved, the image pushed, the edge synced, docker logged in and pulled.
    expect(output).toMatch(/logged in to http:\/\/127\.0\.0\.1:\d+ as "127\.0\.0\.1:\d+"/);
    expect(output).not.toContain(adminKey);
    const pushed = /pushed hello-world:latest@(sha256:[0-9a-f]{64})/.exec(output)?.[1];
    expect(pushed, output).toBeDefined();
    expect(output).toContain("Login Succeeded");
    expect(output).toMatch(new RegExp(`Status: Downloaded newer image for 127\\.0\\.0\\.1:${edgePort}/hello-world:latest`));

    // The image docker has is the one pushed to the cloud, byte for byte (its manifest digest).
    const inspect = await docker.run(["image", "inspect", "--format", "{{json .RepoDigests}}", `127.0.0.1:${edgePort}/hello-world:latest`]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout)).toEqual([`127.0.0.1:${edgePort}/hello-world@${pushed}`]);

    // The saved profile holds the key, readable by its owner only; the connection string file was written.
    const profiles = join(home, ".config/registry-admin/profiles.json");
    expect((await stat(profiles)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(profiles, "utf8")).profiles[`127.0.0.1:${registryPort}`].adminKey).toBe(adminKey);
    expect(await readFile(join(home, "quickstart/factory1.connection"), "utf8")).toMatch(/^ConnectedRegistryName=factory1;.*ParentEndpointProtocol=http\n$/);
  });
});
