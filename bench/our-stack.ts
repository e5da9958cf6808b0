/**
 * Our registry as the benchmark runs it: the local stack (scripts/local-stack.ts) in a
 * child process of its own, with Azurite and the Cosmos DB server as its children.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { childProcesses, type ProcessRef } from "./cpu.js";
import { hasExited, killIfAlive, stopChild } from "./processes.js";
import type { Target } from "./target.js";
import { trustCertificate } from "../scripts/storage-profile.js";

const STACK_CHILD = fileURLToPath(new URL("./stack-child.js", import.meta.url));
const START_TIMEOUT_MS = 60_000;

export interface StartOptions {
  /**
   * Writes V8 CPU profiles here when the processes exit: the registry's, and the Cosmos DB
   * server's (it inherits the flags); the file names carry the pid (the Target's processes).
   */
  cpuProfileDir?: string;
  /** How the registry reaches storage (scripts/storage-profile.ts); identity makes blob GETs redirect to HTTPS. */
  storageAuth?: "key" | "identity";
}

export async function startOurs(key: string, dataDir: string, settings: Record<string, string>, options: StartOptions = {}): Promise<Target> {
  const execArgv = options.cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", options.cpuProfileDir] : [];
  const env = { ...process.env, LOCAL_STORAGE_AUTH: options.storageAuth ?? "key" };
  const child = fork(STACK_CHILD, [dataDir, JSON.stringify(settings)], { stdio: ["ignore", "ignore", "pipe", "ipc"], execArgv, env });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let grandchildren: ProcessRef[] = [];
  const stop = async (): Promise<void> => {
    if (!hasExited(child)) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      if (child.connected) child.send("stop");
      else child.kill("SIGTERM");
      const timer = setTimeout(() => void stopChild(child, 1_000), 20_000);
      await exited;
      clearTimeout(timer);
    }
    // The stack stops its emulators itself; this only catches one left behind by a crash.
    for (const { pid } of grandchildren) killIfAlive(pid);
  };
  try {
    const registryUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the local stack did not start within ${START_TIMEOUT_MS / 1000} s: ${stderr.trim()}`)), START_TIMEOUT_MS);
      child.once("message", (message: { registryUrl?: string; storageCertificateFile?: string }) => {
        clearTimeout(timer);
        // The benchmark client follows redirects to the emulator's HTTPS as a client that trusts it.
        if (message.storageCertificateFile) void trustCertificate(message.storageCertificateFile).then(() => message.registryUrl && resolve(message.registryUrl), reject);
        else if (message.registryUrl) resolve(message.registryUrl);
        else reject(new Error(`unexpected message from the stack child: ${JSON.stringify(message)}`));
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the local stack exited (${code ?? signal}) before it was ready: ${stderr.trim()}`));
      });
    });
    grandchildren = childProcesses(child.pid!).flatMap(({ pid, commandLine }) =>
      commandLine.includes("azurite") ? [{ label: "azurite", pid }] : commandLine.includes("cosmos-server") ? [{ label: "cosmos", pid }] : [],
    );
    return { key, baseUrl: new URL(registryUrl), processes: [{ label: "registry", pid: child.pid! }, ...grandchildren], stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
