/**
 * Node.js 22 everywhere: the tests, and every process the local stack starts, run on the Node
 * major that package.json's engines asks for. Debian's own Node is 20, so this fails when
 * `npm test` was started without .ci/use-node-22.sh (or another Node 22) first on PATH, or when
 * a child is started with a `node` other than the one running its parent.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { startStackProcess } from "../support/stack-process.js";

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));

async function enginesMajor(file: string): Promise<number> {
  const manifest = JSON.parse(await readFile(join(root, file), "utf8")) as { engines?: { node?: string } };
  return Number(/^>=\s*(\d+)$/.exec(manifest.engines?.node ?? "")?.[1]);
}

/** Live members of a process group, read from /proc (pid (comm) state ppid pgrp ...). */
async function groupMembers(groupId: number): Promise<number[]> {
  const members: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (stat && fields[0] !== "Z" && Number(fields[2]) === groupId) members.push(Number(entry));
  }
  return members;
}

/** The Node version of a running process: its own executable asked for its version. */
async function nodeVersionOf(pid: number): Promise<string> {
  const executable = await readlink(`/proc/${pid}/exe`);
  const { stdout } = await execFileAsync(executable, ["-p", "process.version"]);
  return stdout.trim();
}

describe("the Node.js runtime", () => {
  it("asks for Node 22 or newer in both packages, and the tests run on it", async () => {
    expect(await enginesMajor("package.json")).toBe(22);
    expect(await enginesMajor("edge-agent/package.json")).toBe(22);
    expect(Number(process.versions.node.split(".")[0])).toBeGreaterThanOrEqual(22);
  });

  it("pins a Node 22 in .ci/use-node-22.sh, the one CI installs before npm ci", async () => {
    const script = await readFile(join(root, ".ci/use-node-22.sh"), "utf8");
    expect(/^NODE22_VERSION=(\d+)\.\d+\.\d+$/m.exec(script)?.[1]).toBe("22");
  });

  it("runs the local stack and both emulators on the Node the tests run on", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "registry-runtime-"));
    const stack = await startStackProcess(dataDir);
    try {
      const members = await groupMembers(stack.process.pid!);
      // The stack itself, Azurite and the Cosmos DB server (each forked by the stack).
      expect(members.length).toBeGreaterThanOrEqual(3);
      const versions = await Promise.all(members.map(nodeVersionOf));
      expect(versions).toEqual(members.map(() => process.version));
      expect(Number(process.versions.node.split(".")[0])).toBeGreaterThanOrEqual(await enginesMajor("package.json"));
    } finally {
      await stack.signalGroup("SIGTERM");
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
