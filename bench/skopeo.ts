/**
 * skopeo confined to a temporary folder (policy, registries.d and .conf, auth file, HOME):
 * the machine's or user's configuration cannot change a figure. Used by bench/edge.ts and
 * bench/edge-first-sync.ts (`skopeo sync` into docker-registry, the first sync's peer).
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/**
 * Runs skopeo with `args`. With `cpuFile`, under /usr/bin/time, and answers skopeo's own CPU
 * seconds (user + system): a figure the other load on the machine does not blur.
 */
export type ConfinedSkopeo = (args: string[], options?: { cpuFile?: string }) => Promise<number | undefined>;

export async function confinedSkopeo(dir: string, timeoutMs: number): Promise<ConfinedSkopeo> {
  await mkdir(join(dir, "registries.d"), { recursive: true });
  await mkdir(join(dir, "home"), { recursive: true });
  await writeFile(join(dir, "auth.json"), "{}");
  await writeFile(join(dir, "policy.json"), JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  await writeFile(join(dir, "registries.conf"), "unqualified-search-registries = []\n");
  return async (args, options = {}) => {
    const command = ["skopeo", "--policy", join(dir, "policy.json"), "--registries.d", join(dir, "registries.d"), ...args];
    const timed = options.cpuFile ? ["/usr/bin/time", "-f", "%U %S", "-o", options.cpuFile, ...command] : command;
    await execFileAsync(timed[0]!, timed.slice(1), {
      env: { PATH: process.env.PATH, HOME: join(dir, "home"), REGISTRY_AUTH_FILE: join(dir, "auth.json"), CONTAINERS_REGISTRIES_CONF: join(dir, "registries.conf") },
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    if (!options.cpuFile) return undefined;
    const [user, system] = (await readFile(options.cpuFile, "utf8")).trim().split("\n").at(-1)!.split(" ").map(Number);
    return user! + system!;
  };
}
