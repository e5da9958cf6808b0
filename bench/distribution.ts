/**
 * CNCF distribution (docker-registry 2.8) on loopback with filesystem storage in a temp
 * folder and no auth: the reference the benchmark compares against.
 */
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort, hasExited, stopChild, waitFor } from "./processes.js";
import type { Target } from "./target.js";

const BINARY = "/usr/bin/docker-registry";

export async function startDistribution(dir: string): Promise<Target> {
  const port = await freePort();
  const root = join(dir, "storage");
  await mkdir(root, { recursive: true });
  const configFile = join(dir, "config.yml");
  // The Debian package's defaults (in-memory blob descriptor cache, delete enabled), minus auth.
  await writeFile(
    configFile,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  cache:",
      "    blobdescriptor: inmemory",
      "  filesystem:",
      `    rootdirectory: ${root}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "  secret: benchmark-only-secret",
      "",
    ].join("\n"),
  );
  const child = spawn(BINARY, ["serve", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", reject);
  });
  const stop = (): Promise<void> => stopChild(child, 5_000);
  try {
    await spawned;
    const baseUrl = new URL(`http://127.0.0.1:${port}`);
    await waitFor(async () => {
      if (hasExited(child)) throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`);
      return fetch(new URL("/v2/", baseUrl)).then((r) => r.status === 200, () => false);
    }, "docker-registry", 15_000);
    return { key: "distribution", baseUrl, processes: [{ label: "docker-registry", pid: child.pid! }], stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
