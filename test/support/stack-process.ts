/**
 * The local stack as `npm start` runs it: `node dist/scripts/local-stack.js` in a process
 * group of its own, as a shell's foreground job or a systemd unit has, so a test can send
 * a signal to the whole group the way Ctrl-C, `systemctl stop` or a crash does.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("../../dist/scripts/local-stack.js", import.meta.url));

export interface StackProcess {
  url: string;
  process: ChildProcess;
  /** The admin key, printed at the stack's first start in this folder. */
  adminKey?: string;
  output(): string;
  /** Sends `signal` to every process of the group and waits for the stack to exit. */
  signalGroup(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startStackProcess(dataDir: string, env: Record<string, string> = {}): Promise<StackProcess> {
  // PORT=0: the stack listens on a port the system picks and prints its URL. A port found free
  // here could be taken by another test file's server before the stack listened on it.
  const child = spawn(process.execPath, [script], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LOCAL_DATA_DIR: dataDir, PORT: "0", ...env },
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + 90_000;
  const registryUrl = (): string | undefined => /Local stack is up\.\s+Registry \(OCI Distribution API\)\s+(http:\/\/\S+)\/v2\//.exec(output)?.[1];
  let url: string | undefined;
  while (!(url = registryUrl())) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the local stack did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const adminKey = /ADMIN KEY \(shown once[^)]*\): (\S+)/.exec(output)?.[1];
  return {
    url,
    process: child,
    ...(adminKey ? { adminKey } : {}),
    output: () => output,
    signalGroup: async (signal) => {
      process.kill(-child.pid!, signal);
      const result = await exited;
      // The emulators stop with the stack (or with the group); wait until none is left.
      await waitForGroupToEnd(child.pid!);
      return result;
    },
  };
}

/** Waits until no live process is left in the group (zombies that nobody reaps do not count). */
async function waitForGroupToEnd(groupId: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await liveMembers(groupId)) > 0) {
    if (Date.now() > deadline) throw new Error(`processes of group ${groupId} are still running`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function liveMembers(groupId: number): Promise<number> {
  let count = 0;
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // pid (comm) state ppid pgrp ...: comm may hold spaces, so read after its ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] !== "Z" && Number(fields[2]) === groupId) count++;
  }
  return count;
}
