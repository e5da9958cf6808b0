/**
 * Crash-safe file writes for the edge agent's data folder. A reader (or the agent after a
 * SIGKILL) sees either the old file or the new one, never a half-written one: the bytes go
 * to a temp file in the same directory (rename is only atomic within one file system),
 * are fsynced, renamed over the target, and the directory is fsynced so the rename
 * itself survives a power loss.
 */
import { randomBytes } from "node:crypto";
import { open, readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { checkFolderForWrite, makeDirectory } from "./data-folder-guard.js";
import { errorCode, isNotFound } from "./errno.js";

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
  // Straight into the agent's data folder (the state file): only while it is the one the agent started with.
  await checkFolderForWrite(directory);
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

// The stores take these from here with the rest of their file helpers.
export { errorCode, isNotFound };

/** The names in a folder; none when the folder does not exist. */
export async function readdirOrEmpty(directory: string): Promise<string[]> {
  try {
    return await readdir(directory);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}
