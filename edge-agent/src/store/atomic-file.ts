/**
 * Crash-safe file writes for the edge agent's data folder. A reader (or the agent after a
 * SIGKILL) sees either the old file or the new one, never a half-written one: the bytes go
 * to a temp file in the same directory (rename is only atomic within one file system),
 * are fsynced, renamed over the target, and the directory is fsynced so the rename
 * itself survives a power loss.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";

/** Data folders (the agents' --data, absolute) that a write may fill but never make again, with how many agents guard each: guardDataFolder. */
const guardedFolders = new Map<string, number>();

/**
 * From now until the returned function is called, writes under `dataDir` make the missing
 * folders below it but never `dataDir` itself. A data folder taken away while the agent runs
 * (deleted, its volume unmounted, moved) then makes every write fail, loudly (DISK_ERROR, not
 * ready) until it is back, instead of the first write making a fresh, empty folder that the
 * agent fills with its state (a cursor, "synced") but none of the content: a restart would
 * trust that and never fetch what was lost.
 */
export function guardDataFolder(dataDir: string): () => void {
  const folder = resolve(dataDir);
  guardedFolders.set(folder, (guardedFolders.get(folder) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const count = guardedFolders.get(folder)! - 1;
    if (count > 0) guardedFolders.set(folder, count);
    else guardedFolders.delete(folder);
  };
}

/** A write under a guarded data folder that is gone; `code` is the errno that said so (ENOENT, ENOTDIR). */
export class DataFolderGoneError extends Error {
  constructor(
    readonly folder: string,
    readonly code: string,
    cause: unknown,
  ) {
    super(`the data folder ${folder} is gone (${code}); the agent does not make it again: put it back, or restart the agent to start afresh`, { cause });
    this.name = "DataFolderGoneError";
  }
}

function dataFolderGone(folder: string, cause: unknown): DataFolderGoneError {
  return new DataFolderGoneError(folder, errorCode(cause) ?? "ENOENT", cause);
}

/**
 * `mkdir -p directory`, except that under a guarded data folder the folders are made one by
 * one from it downwards: if the data folder itself is gone the first one fails (ENOENT, or
 * ENOTDIR where a file stands), and nothing is made. No check-then-make race: each mkdir
 * needs its parent to exist.
 */
export async function makeDirectory(directory: string): Promise<void> {
  const absolute = resolve(directory);
  const guard = [...guardedFolders.keys()].find((folder) => absolute.startsWith(folder + sep));
  if (!guard) {
    if (guardedFolders.has(absolute)) await stat(absolute).catch((error: unknown) => Promise.reject(dataFolderGone(absolute, error)));
    else await mkdir(absolute, { recursive: true });
    return;
  }
  let path = guard;
  for (const [depth, name] of relative(guard, absolute).split(sep).entries()) {
    path = join(path, name);
    try {
      await mkdir(path);
    } catch (error) {
      if (errorCode(error) === "EEXIST") continue;
      throw depth === 0 && (isNotFound(error) || errorCode(error) === "ENOTDIR") ? dataFolderGone(guard, error) : error;
    }
  }
}

/**
 * Temp files start with "." so directory listings (tags, catalog, uploads) can skip them:
 * no tag, repository component or upload id starts with a dot.
 */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
}

export function isTempName(name: string): boolean {
  return name.startsWith(".");
}

/** `mode` for files only the agent's user may read (the state holds password verifiers). */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const directory = dirname(path);
  const temp = tempPathFor(path);
  try {
    const handle = await openCreatingDirectory(temp, mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(directory);
}

/** Opens a new file for writing; its directory is made only when missing (one call fewer on every write). */
async function openCreatingDirectory(path: string, mode: number) {
  try {
    return await open(path, "w", mode);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await makeDirectory(dirname(path));
    return open(path, "w", mode);
  }
}

/** The parsed JSON content of a file, or undefined when it does not exist. */
export async function readJsonFile<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  return JSON.parse(text) as T;
}

/** Per directory: the fsync that has not started yet (callers join it) and the one under way. */
const directorySyncs = new Map<string, { queued?: Promise<void>; running?: Promise<void> }>();

/**
 * Makes a rename or unlink in the directory durable (a no-op where directories cannot be
 * opened, e.g. Windows). Callers that arrive together share one fsync (a group commit, as
 * the change log's appends do): one that starts after every one of them has called, so
 * their renames are in it. A sync already under way may have started before a caller's
 * rename, so that caller waits for the next one. A first sync renames dozens of blobs and
 * writes dozens of links into the same few directories at once.
 */
export function fsyncDirectory(directory: string): Promise<void> {
  let entry = directorySyncs.get(directory);
  if (!entry) directorySyncs.set(directory, (entry = {}));
  if (entry.queued) return entry.queued;
  const state = entry;
  const queued = (state.running ?? Promise.resolve())
    .catch(() => {})
    .then(() => {
      state.queued = undefined;
      const running = syncDirectoryNow(directory);
      state.running = running;
      return running.finally(() => {
        if (state.running === running) state.running = undefined;
        if (!state.queued && !state.running && directorySyncs.get(directory) === state) directorySyncs.delete(directory);
      });
    });
  state.queued = queued;
  return queued;
}

async function syncDirectoryNow(directory: string): Promise<void> {
  let handle;
  try {
    handle = await open(directory, "r");
  } catch (error) {
    if (isNotFound(error) || errorCode(error) === "EISDIR" || errorCode(error) === "EPERM") return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    // Some file systems refuse fsync on a directory; the rename is still done.
    if (errorCode(error) !== "EINVAL" && errorCode(error) !== "EPERM") throw error;
  } finally {
    await handle.close();
  }
}

export function errorCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null ? (error as { code?: string }).code : undefined;
}

export function isNotFound(error: unknown): boolean {
  return errorCode(error) === "ENOENT";
}

/** The names in a folder; none when the folder does not exist. */
export async function readdirOrEmpty(directory: string): Promise<string[]> {
  try {
    return await readdir(directory);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}
