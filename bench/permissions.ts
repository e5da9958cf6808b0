/** Runs the permission-check micro-benchmark (permissions-child.ts) in a child process. */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { PermissionsBenchResult, PermissionsBenchSettings } from "./permissions-child.js";
import { stopChild } from "./processes.js";

const CHILD = fileURLToPath(new URL("./permissions-child.js", import.meta.url));

/** `signal` (e.g. the benchmark's SIGINT) stops the child at once. */
export async function runPermissionsBench(settings: PermissionsBenchSettings, timeoutMs: number, signal?: AbortSignal): Promise<PermissionsBenchResult> {
  signal?.throwIfAborted();
  const child = fork(CHILD, [], {
    // gc() for heap figures; room for 20,000 scope maps whatever the machine's default.
    execArgv: ["--expose-gc", "--max-old-space-size=4096"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  try {
    return await new Promise<PermissionsBenchResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the permission micro-benchmark took more than ${timeoutMs / 1000} s`)), timeoutMs);
      child.once("message", (message: { ok: true; result: PermissionsBenchResult } | { ok: false; error: string }) => {
        clearTimeout(timer);
        if (message.ok) resolve(message.result);
        else reject(new Error(`permission micro-benchmark: ${message.error}`));
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the permission micro-benchmark exited (${code ?? signal}) without a result`));
      });
      child.once("error", reject);
      signal?.addEventListener("abort", () => reject(new Error("permission micro-benchmark interrupted")), { once: true });
      child.send(settings);
    });
  } finally {
    // A child busy in a loop does not read IPC: SIGTERM, then SIGKILL.
    await stopChild(child, 2_000);
  }
}
