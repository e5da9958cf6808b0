/**
 * Writes that the volume refused (full, failing, read-only) told apart from every other
 * failure: the stores' write methods are wrapped so such an error is reported once, to
 * whoever keeps the DISK_ERROR condition (disk-guard.ts), and reaches the caller as a
 * `DiskWriteError`: a registry error whose message says what happened (a push gets 507 or
 * 500 with that message, not "internal error"), and that the sync loop recognises.
 *
 * The stores already leave nothing partial visible when a write fails (temp file + rename,
 * a staged block removed, a torn change-log line cut back); this only names the failure.
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { dirname } from "node:path";
import { RegistryError } from "../../../shared/domain/registry-errors.js";
import { errorCode } from "./atomic-file.js";
import { DataFolderGoneError } from "./data-folder-guard.js";
import type { FsBlobStore } from "./fs-blob-store.js";
import type { FsChangeStore } from "./fs-change-store.js";
import type { FsMetadataStore } from "./fs-metadata-store.js";

/** What the volume says when it cannot take a write; ENOSPC and EDQUOT mean "no room", the others "broken". */
const DISK_ERROR_TEXT: Record<string, string> = {
  ENOSPC: "no space left on the volume",
  EDQUOT: "the disk quota is exhausted",
  EIO: "an I/O error on the volume",
  EROFS: "the volume is read-only",
};

/** What a write under a data folder that is gone or replaced says (data-folder-guard.ts: the agent writes nowhere else). */
const DATA_FOLDER_GONE_TEXT = "the data folder is gone or was replaced (deleted, moved, or its volume unmounted)";

/** Where a write failed: reported in the condition, the log and the metrics' `area` label. */
export type WriteArea = "content" | "metadata" | "change-log" | "state";

/** The stores' methods that write (reads are left alone: a failing read is the reader's 404 or 500). */
export const BLOB_WRITES = [
  "writeContent", "delete", "stage", "commit", "promoteUpload", "discardUpload", "purgeStaging", "appendPartial", "completePartial", "discardPartial",
] as const satisfies ReadonlyArray<keyof FsBlobStore>;
export const METADATA_WRITES = [
  "ensureRepository", "putTag", "deleteTag", "putManifest", "deleteManifest", "putBlobLink", "refreshBlobLink", "deleteBlobLink", "createUpload", "updateUpload", "deleteUpload",
] as const satisfies ReadonlyArray<keyof FsMetadataStore>;
export const CHANGE_LOG_WRITES = ["startEpoch", "create", "markCommitted", "deleteOlderThan"] as const satisfies ReadonlyArray<keyof FsChangeStore>;

/** Whether a failure is the volume refusing a write (converted by the stores, or raw, as from the state file). */
export function isDiskError(error: unknown): boolean {
  const code = errorCode(error);
  return error instanceof DiskWriteError || error instanceof DataFolderGoneError || (code !== undefined && code in DISK_ERROR_TEXT);
}

/**
 * The disk error behind `error`, if any. Node's recursive mkdir reports ENOENT when the volume
 * is read-only (it hides the EROFS of the level it could not create), so an ENOENT from mkdir
 * is checked again: access(W_OK) on the nearest folder that exists says EROFS when that is it.
 */
async function diskErrno(error: unknown): Promise<string | undefined> {
  if (error instanceof DataFolderGoneError) return error.code;
  const code = errorCode(error);
  if (code !== undefined && code in DISK_ERROR_TEXT) return code;
  const { syscall, path } = (error ?? {}) as { syscall?: unknown; path?: unknown };
  if (code !== "ENOENT" || syscall !== "mkdir" || typeof path !== "string") return undefined;
  for (let folder = dirname(path); ; folder = dirname(folder)) {
    try {
      await access(folder, constants.W_OK);
      return undefined;
    } catch (probe) {
      const probed = errorCode(probe);
      if (probed !== "ENOENT") return probed !== undefined && probed in DISK_ERROR_TEXT ? probed : undefined;
    }
    if (dirname(folder) === folder) return undefined;
  }
}

/** A write the volume refused; 507 Insufficient Storage when it is full, 500 when it failed. */
export class DiskWriteError extends RegistryError {
  constructor(
    readonly area: WriteArea,
    readonly errno: string,
    options: { cause: unknown },
  ) {
    const full = errno === "ENOSPC" || errno === "EDQUOT";
    const text = options.cause instanceof DataFolderGoneError ? DATA_FOLDER_GONE_TEXT : (DISK_ERROR_TEXT[errno] ?? "a disk error");
    super("UNKNOWN", `the connected registry's storage refused a write (${errno}: ${text}); nothing partial was kept, and what it already holds is still served`, {
      status: full ? 507 : 500,
    });
    this.name = "DiskWriteError";
    this.cause = options.cause;
  }
}

export interface WriteObserver {
  /** A write in `area` failed with a disk error. */
  failed(area: WriteArea, errno: string, error: unknown): void;
  /** A write in `area` went through: the volume takes writes there again. */
  succeeded(area: WriteArea): void;
}

/**
 * `target` with its `writes` methods reporting to `observer`: a disk failure is turned into a
 * DiskWriteError, any other error passes through unchanged. Everything else is the target's own.
 */
export function reportingWrites<T extends object>(target: T, writes: ReadonlyArray<keyof T & string>, area: WriteArea, observer: WriteObserver): T {
  const wrapped = new Map<string | symbol, unknown>();
  const names = new Set<string | symbol>(writes);
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object) as unknown;
      if (typeof value !== "function") return value;
      let bound = wrapped.get(property);
      if (!bound) {
        const method = value as (...args: unknown[]) => unknown;
        bound = names.has(property)
          ? async (...args: unknown[]) => {
              let result: unknown;
              try {
                result = await method.apply(object, args);
              } catch (error) {
                throw await asDiskWriteError(error, area, observer);
              }
              observer.succeeded(area);
              return result;
            }
          : method.bind(object);
        wrapped.set(property, bound);
      }
      return bound;
    },
  });
}

/** Reports a disk failure (once: an error already converted is passed on as it is) and returns what to throw. */
export async function asDiskWriteError(error: unknown, area: WriteArea, observer: WriteObserver): Promise<unknown> {
  if (error instanceof DiskWriteError) return error;
  const errno = await diskErrno(error);
  if (errno === undefined) return error;
  observer.failed(area, errno, error);
  return new DiskWriteError(area, errno, { cause: error });
}
