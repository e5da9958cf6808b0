/**
 * The agent's data folder is never made again, nor swapped for another, by the agent's own
 * writes. A data folder taken away while the agent runs (deleted, moved, its volume unmounted)
 * must make every write fail, loudly (DISK_ERROR, not ready), until it is back: otherwise the
 * first write makes a fresh, empty folder (or writes into the empty mount point an unmounted
 * volume leaves behind) that the agent fills with its state (a cursor, "synced") but none of the
 * content, and the next start trusts that state and never fetches what was lost.
 *
 * While an agent runs, its folder is guarded: what it was at start (device and inode) is kept. A
 * file written straight into the folder (the state file) first checks that the folder is still
 * that one. A new folder whose parent exists deeper down is one mkdir (that parent came from
 * the agent's own checked writes); any other is made one level at a time from the data folder
 * downwards after the same check (each mkdir needs its parent, so a folder that is gone is never
 * made again, with no check-then-make race). A stat per check: the state file is written a few
 * times per sync cycle, and the folders right below the data folder once.
 */
import { mkdir, stat } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { errorCode } from "./errno.js";

interface Guard {
  /** Agents guarding this folder (tests run several in one process). */
  count: number;
  dev: number;
  ino: number;
}

/** Guarded data folders (absolute paths). */
const guarded = new Map<string, Guard>();

/** A write under a guarded data folder that is gone or is another folder now; `code` says which (ENOENT, ENOTDIR, ESTALE). */
export class DataFolderGoneError extends Error {
  constructor(
    readonly folder: string,
    readonly code: string,
    cause?: unknown,
  ) {
    const what = code === "ESTALE" ? "was replaced by another folder (a volume unmounted, or the folder moved and another made)" : `is gone (${code})`;
    super(`the data folder ${folder} ${what}; the agent does not write there: put it back, or restart the agent to start afresh`, { cause });
    this.name = "DataFolderGoneError";
  }
}

/** Guards `dataDir` (which exists) until the returned function is called. */
export async function guardDataFolder(dataDir: string): Promise<() => void> {
  const folder = resolve(dataDir);
  const { dev, ino } = await stat(folder);
  const known = guarded.get(folder);
  guarded.set(folder, { count: (known?.count ?? 0) + 1, dev, ino });
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const guard = guarded.get(folder);
    if (!guard) return;
    if (guard.count > 1) guard.count--;
    else guarded.delete(folder);
  };
}

/** The guarded data folder `path` is in or is, if any. */
function guardOf(path: string): [string, Guard] | undefined {
  for (const entry of guarded) if (path === entry[0] || path.startsWith(entry[0] + sep)) return entry;
  return undefined;
}

/** Throws DataFolderGoneError unless `folder` is still the folder its guard saw at start. */
async function checkGuarded(folder: string, guard: Guard): Promise<void> {
  let now;
  try {
    now = await stat(folder);
  } catch (error) {
    throw new DataFolderGoneError(folder, errorCode(error) ?? "ENOENT", error);
  }
  if (!now.isDirectory()) throw new DataFolderGoneError(folder, "ENOTDIR");
  if (now.dev !== guard.dev || now.ino !== guard.ino) throw new DataFolderGoneError(folder, "ESTALE");
}

/**
 * Before a file is written straight into a folder: throws DataFolderGoneError when that folder
 * is a guarded data folder that is gone or replaced. A no-op for any other folder.
 */
export async function checkFolderForWrite(directory: string): Promise<void> {
  const absolute = resolve(directory);
  const guard = guarded.get(absolute);
  if (guard) await checkGuarded(absolute, guard);
}

/** Why the guarded `dataDir` takes no writes (gone, replaced), or undefined; for /readyz. */
export function dataFolderProblem(dataDir: string): Promise<string | undefined> {
  return checkFolderForWrite(dataDir).then(
    () => undefined,
    (error: unknown) => (error instanceof DataFolderGoneError ? error.code : undefined),
  );
}

/** `mkdir -p directory`; below a guarded data folder, only while it is the one the agent started with. */
export async function makeDirectory(directory: string): Promise<void> {
  const absolute = resolve(directory);
  const entry = guardOf(absolute);
  if (!entry) {
    await mkdir(absolute, { recursive: true });
    return;
  }
  const [folder, guard] = entry;
  // The common case, a new folder in one that exists two or more levels below the data folder
  // (blobs/sha256/<xx>): one mkdir. That parent was made by this agent's own checked writes, so
  // it is in the right folder. Anything else is checked and made level by level.
  if (dirname(absolute) !== folder && absolute !== folder) {
    try {
      await mkdir(absolute);
      return;
    } catch (error) {
      if (errorCode(error) === "EEXIST") return;
      if (errorCode(error) !== "ENOENT") throw error;
    }
  }
  await checkGuarded(folder, guard);
  let path = folder;
  for (const [depth, name] of (absolute === folder ? [] : relative(folder, absolute).split(sep)).entries()) {
    path = join(path, name);
    try {
      await mkdir(path);
    } catch (error) {
      const code = errorCode(error);
      if (code === "EEXIST") continue;
      // Gone since the check above.
      throw depth === 0 && (code === "ENOENT" || code === "ENOTDIR") ? new DataFolderGoneError(folder, code, error) : error;
    }
  }
}
