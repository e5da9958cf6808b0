/**
 * What the image says about its origin (the `org.opencontainers.image.*` labels), read from
 * the checkout. The timestamp is SOURCE_DATE_EPOCH when set (reproducible-builds.org), else
 * the commit's own time, never the clock: two builds of one commit must agree to the byte.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface BuildInfo {
  version: string;
  /** The commit, with `-dirty` when the checkout has changes the commit lacks. */
  revision: string;
  created: Date;
  source?: string;
}

async function git(repoRoot: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("git", ["-C", repoRoot, ...args]);
  return stdout.trim();
}

/** A remote's URL without credentials (an https remote may carry a token in its user part). */
export function publicSourceUrl(remote: string): string | undefined {
  if (remote === "") return undefined;
  try {
    const url = new URL(remote);
    url.username = "";
    url.password = "";
    return url.toString().replace(/\.git$/, "");
  } catch {
    // scp-like "git@host:owner/name.git": no secret in it, but not a URL a browser opens.
    const scp = /^[^@]+@([^:]+):(.+?)(\.git)?$/.exec(remote);
    return scp ? `https://${scp[1]}/${scp[2]}` : undefined;
  }
}

export function createdFrom(sourceDateEpoch: string | undefined, commitTime: string): Date {
  const seconds = sourceDateEpoch ?? commitTime;
  if (!/^\d+$/.test(seconds)) throw new Error(`SOURCE_DATE_EPOCH must be whole seconds since 1970, not "${seconds}"`);
  return new Date(Number(seconds) * 1000);
}

export async function readBuildInfo(repoRoot: string, env: NodeJS.ProcessEnv, sourceOverride?: string): Promise<BuildInfo> {
  const edgePackage = JSON.parse(await readFile(join(repoRoot, "edge-agent", "package.json"), "utf8")) as { version: string };
  const commit = await git(repoRoot, ["rev-parse", "HEAD"]).catch(() => undefined);
  // A source tarball has no history to read: the builder names the revision and the time.
  if (!commit && !(env.IMAGE_REVISION && env.SOURCE_DATE_EPOCH)) {
    throw new Error(`${repoRoot} is not a git checkout: set IMAGE_REVISION (the commit) and SOURCE_DATE_EPOCH (its time, seconds since 1970)`);
  }
  const dirty = commit ? (await git(repoRoot, ["status", "--porcelain"])) !== "" : false;
  const revision = env.IMAGE_REVISION || (dirty ? `${commit}-dirty` : commit!);
  const created = createdFrom(env.SOURCE_DATE_EPOCH || undefined, commit ? await git(repoRoot, ["log", "-1", "--format=%ct"]) : "");
  const remote = commit ? await git(repoRoot, ["config", "--get", "remote.origin.url"]).catch(() => "") : "";
  const source = sourceOverride ?? (env.IMAGE_SOURCE || undefined) ?? publicSourceUrl(remote);
  return { version: edgePackage.version, revision, created, ...(source ? { source } : {}) };
}
