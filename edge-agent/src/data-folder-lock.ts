/**
 * One agent per data folder. Two agents on one folder would both activate, sync and write the
 * same stores, each believing its in-memory change log is the folder's. So at start the agent
 * creates `<data>/agent.lock` exclusively (O_EXCL: of two racing starts, one wins) holding its
 * pid, host and start time, keeps it while it runs, and removes it when it stops.
 *
 * A lock whose holder is gone must not block a restart after a crash or a power cut:
 * - same host: the holder is gone when its pid is not alive, or is this very process (a
 *   container's agent is pid 1 at every start), or is alive but started after the lock was
 *   written (a pid reused after a reboot; Linux's /proc says when a process started);
 * - a lock that names another folder was copied here with the folder (a backup of a running
 *   agent's folder, restored or started as a second edge): it holds nothing here;
 * - another host (a folder on shared storage, a pod rescheduled to another node): its pid
 *   means nothing here, so the holder refreshes the file's mtime every REFRESH_MS and a lock
 *   not refreshed for STALE_MS is taken over.
 * Node has no flock(2), and an advisory lock would not say who holds the folder.
 */
import { link, open, readFile, realpath, rename, stat, unlink, utimes } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";

export const LOCK_FILE = "agent.lock";
const REFRESH_MS = 10_000;
const STALE_MS = 60_000;
/** /proc start times are whole clock ticks after a boot time in whole seconds. */
const START_TIME_SLACK_MS = 2_000;

const holderSchema = z.object({ pid: z.number().int().positive(), host: z.string(), startedAt: z.string(), dataDir: z.string().optional() });
export type LockHolder = z.infer<typeof holderSchema>;

export class DataFolderLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `the data folder ${dataDir} is in use by another connected-registry agent (pid ${holder.pid} on host ${holder.host}, started ${holder.startedAt}): ` +
        `stop that agent or give this one another --data folder (if that agent is surely gone, remove ${join(dataDir, LOCK_FILE)})`,
    );
  }
}

export interface DataFolderLock {
  readonly path: string;
  release(): Promise<void>;
}

export interface LockEvents {
  /** A stale lock was taken over: who held it and why it no longer counts. */
  takenOver(holder: LockHolder | undefined, reason: string): void;
}

export async function lockDataFolder(dataDir: string, events: LockEvents): Promise<DataFolderLock> {
  const path = join(dataDir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), dataDir: await realpath(dataDir) };
  // A few rounds: each either creates the lock, refuses, or removes one stale lock and tries again.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createExclusively(path, me)) return held(path, me);
    const found = await readHolder(path);
    if (!found) continue; // removed between our create and read: try again
    const staleBecause = await whyStale(found.holder, found.mtimeMs, found.ino, me);
    if (!staleBecause) throw new DataFolderLockedError(dataDir, found.holder ?? { pid: 0, host: "unknown", startedAt: "unknown" });
    if (await removeIfUnchanged(path, found.ino)) events.takenOver(found.holder, staleBecause);
  }
  throw new Error(`could not lock the data folder ${dataDir}: ${path} keeps changing; is another agent starting on it?`);
}

async function createExclusively(path: string, me: LockHolder): Promise<boolean> {
  let file;
  try {
    file = await open(path, "wx", 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    await file.writeFile(JSON.stringify(me) + "\n");
    await file.sync();
  } finally {
    await file.close();
  }
  return true;
}

interface FoundLock {
  /** Undefined when the file cannot be read as a holder: a crash between create and write. */
  holder: LockHolder | undefined;
  mtimeMs: number;
  ino: number;
}

async function readHolder(path: string): Promise<FoundLock | undefined> {
  try {
    const info = await stat(path);
    const parsed = holderSchema.safeParse(safeJson(await readFile(path, "utf8")));
    return { holder: parsed.success ? parsed.data : undefined, mtimeMs: info.mtimeMs, ino: info.ino };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Why the holder no longer holds the folder, or undefined while it may. */
async function whyStale(holder: LockHolder | undefined, mtimeMs: number, ino: number, me: LockHolder): Promise<string | undefined> {
  const age = Date.now() - mtimeMs;
  if (!holder) return age > STALE_MS ? "the lock file is unreadable and was not refreshed for a minute" : undefined;
  // Taken for another path: a copy of the folder, unless that path shows this very file (the
  // same volume mounted elsewhere), whose holder may well be alive: the checks below decide.
  if (holder.dataDir !== undefined && holder.dataDir !== me.dataDir && !(await sameFile(join(holder.dataDir, LOCK_FILE), ino))) {
    return `it was taken for ${holder.dataDir} and copied here with the folder`;
  }
  if (holder.host !== me.host) return age > STALE_MS ? `host ${holder.host} has not refreshed it for ${Math.round(age / 1000)} s` : undefined;
  if (holder.pid === me.pid) return "its pid is this process's own (a restart with the same pid)";
  if (!isAlive(holder.pid)) return `process ${holder.pid} is no longer running`;
  const startedMs = await processStartMs(holder.pid);
  if (startedMs !== undefined && startedMs > Date.parse(holder.startedAt) + START_TIME_SLACK_MS) return `pid ${holder.pid} now belongs to a process started after the lock was taken`;
  return undefined;
}

async function sameFile(path: string, ino: number): Promise<boolean> {
  try {
    return (await stat(path)).ino === ino;
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** When a process started (Linux /proc), or undefined where that cannot be read. */
async function processStartMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces and parentheses): field 22 is the start time in clock ticks since boot.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = Number(fields[19]);
    const bootSeconds = Number(/^btime (\d+)$/m.exec(await readFile("/proc/stat", "utf8"))?.[1]);
    // USER_HZ is 100 on every Linux architecture Node runs on.
    return Number.isFinite(startTicks) && Number.isFinite(bootSeconds) ? bootSeconds * 1000 + startTicks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the stale lock only if it is still the file that was judged stale: it is renamed
 * aside first (atomic), and put back if another start replaced it in between.
 */
async function removeIfUnchanged(path: string, ino: number): Promise<boolean> {
  const aside = `${path}.stale-${process.pid}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
  if ((await stat(aside)).ino === ino) {
    await unlink(aside);
    return true;
  }
  // Another start took the stale lock over and made a live one: put it back (link, unlike
  // rename, never replaces a lock that yet another start made meanwhile).
  await link(aside, path).catch(() => {});
  await unlink(aside);
  return false;
}

function held(path: string, me: LockHolder): DataFolderLock {
  const refresh = setInterval(() => {
    const now = new Date();
    void utimes(path, now, now).catch(() => {});
  }, REFRESH_MS);
  refresh.unref();
  return {
    path,
    release: async () => {
      clearInterval(refresh);
      // Only our own lock: if it was taken over (we looked stale), the file is another agent's.
      const found = await readHolder(path);
      if (found?.holder && found.holder.pid === me.pid && found.holder.host === me.host && found.holder.startedAt === me.startedAt) await unlink(path).catch(() => {});
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
