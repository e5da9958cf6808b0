/**
 * CNCF distribution (docker-registry 2.8) on loopback with filesystem storage in a temp
 * folder and no auth (or htpasswd, when asked): the reference the benchmarks compare against.
 */
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { freePort, hasExited, stopChild, waitFor } from "./processes.js";
import type { Target } from "./target.js";

const BINARY = "/usr/bin/docker-registry";

/**
 * `htpasswd`: Basic auth with one user (a bcrypt entry of cost 5, as `htpasswd -B` makes), for
 * figures "with auth"; without it, no auth at all.
 */
export async function startDistribution(dir: string, options: { htpasswd?: { username: string; password: string } } = {}): Promise<Target> {
  const port = await freePort();
  const root = join(dir, "storage");
  await mkdir(root, { recursive: true });
  const configFile = join(dir, "config.yml");
  const auth: string[] = [];
  if (options.htpasswd) {
    const htpasswdFile = join(dir, "htpasswd");
    await writeFile(htpasswdFile, `${options.htpasswd.username}:${await bcrypt.hash(options.htpasswd.password, 5)}\n`);
    auth.push("auth:", "  htpasswd:", "    realm: benchmark", `    path: ${htpasswdFile}`);
  }
  // The Debian package's defaults (in-memory blob descriptor cache, delete enabled), minus auth unless asked.
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
      ...auth,
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
      // Behind htpasswd, the 401 challenge is the answer of a registry that is up.
      return fetch(new URL("/v2/", baseUrl)).then((r) => r.status === (options.htpasswd ? 401 : 200), () => false);
    }, "docker-registry", 15_000);
    return { key: options.htpasswd ? "distribution-htpasswd" : "distribution", baseUrl, processes: [{ label: "docker-registry", pid: child.pid! }], stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
