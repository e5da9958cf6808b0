/**
 * `connected-registry gc --data DIR [--dry-run] [--output json]`: a collection from the
 * command line, listing what goes (or, with --dry-run, what would go).
 *
 * The data folder belongs to one agent at a time (data-folder-lock.ts). When no agent runs,
 * the command takes the folder's lock for the run, so an agent started meanwhile waits
 * its turn by refusing to start. When an agent runs, a dry run still reads (the files are
 * always consistent on disk), leaving out the change log that lives in the agent's memory;
 * a real run is refused: the running agent collects on its own schedule, and two
 * processes deleting in one folder would defeat the agent's in-memory use tracking.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { formatBytes } from "../../../shared/domain/quantities.js";
import { CHANGE_RETENTION_SECONDS } from "../../../shared/domain/retention.js";
import { DataFolderLockedError, lockDataFolder, type DataFolderLock } from "../data-folder-lock.js";
import { OptionsError } from "../options.js";
import { StateFile, readState } from "../state.js";
import { FsBlobStore } from "../store/fs-blob-store.js";
import { FsChangeStore } from "../store/fs-change-store.js";
import { FsMetadataStore } from "../store/fs-metadata-store.js";
import { GarbageCollector, type CollectionResult } from "./collector.js";
import { summaryOf } from "./report.js";
import { UseTracker } from "./use-tracker.js";

const DEFAULT_DATA_DIR = "connected-registry-data";

export async function runGcCommand(args: string[], env: NodeJS.ProcessEnv, io: { out: (text: string) => void; err: (text: string) => void }): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { data: { type: "string" }, "dry-run": { type: "boolean" }, output: { type: "string" } } });
  if (values.output !== undefined && values.output !== "json" && values.output !== "text") throw new OptionsError(`--output is "json" or "text", not "${values.output}"`);
  const dataDir = resolve(values.data ?? env.CONNECTED_REGISTRY_DATA ?? DEFAULT_DATA_DIR);
  const dryRun = values["dry-run"] ?? false;
  if ((await readState(dataDir)) === undefined) throw new OptionsError(`no agent state in ${dataDir}: is --data the agent's data folder?`);

  let lock: DataFolderLock | undefined;
  try {
    lock = await lockDataFolder(dataDir, { takenOver: () => undefined });
  } catch (error) {
    if (!(error instanceof DataFolderLockedError)) throw error;
    if (!dryRun) {
      io.err(
        `the data folder ${dataDir} is in use by a running agent (pid ${error.holder.pid} on ${error.holder.host}); it collects garbage on its own schedule ` +
          `(the connected registry's garbageCollection setting; the last run is in \`connected-registry status\`). ` +
          `To collect now from here, stop the agent first; \`gc --dry-run\` works beside it.\n`,
      );
      return 1;
    }
  }
  try {
    const result = lock ? await collectLocked(dataDir, dryRun) : await collectBeside(dataDir);
    io.out(values.output === "json" ? JSON.stringify(result, null, 2) + "\n" : formatResult(result, lock === undefined));
    return 0;
  } finally {
    await lock?.release();
  }
}

/** No agent runs: the whole folder, change log included; a real run is recorded in the state. */
async function collectLocked(dataDir: string, dryRun: boolean): Promise<CollectionResult> {
  const state = await StateFile.open(dataDir);
  const changeStore = await FsChangeStore.open(join(dataDir, "changes"));
  try {
    const collector = new GarbageCollector({
      ...stores(dataDir),
      changes: {
        store: changeStore,
        retentionMs: CHANGE_RETENTION_SECONDS * 1000,
        readWrite: () => state.state.configuration?.mode === "ReadWrite",
        upstreamAfter: () => state.state.upstreamAfter,
      },
      onCollected: (result, kind) => {
        if (kind === "full") void state.update((s) => void (s.garbageCollection = summaryOf(result)));
      },
    });
    return await collector.collect({ dryRun });
  } finally {
    await changeStore.close();
    await state.close();
  }
}

/** Beside a running agent (dry runs only): files only, nothing written. */
async function collectBeside(dataDir: string): Promise<CollectionResult> {
  return new GarbageCollector(stores(dataDir)).collect({ dryRun: true });
}

function stores(dataDir: string): { blobRoot: string; metadataRoot: string; blobs: FsBlobStore; metadata: FsMetadataStore; tracker: UseTracker } {
  const metadataRoot = join(dataDir, "metadata");
  return { blobRoot: dataDir, metadataRoot, blobs: new FsBlobStore(dataDir), metadata: new FsMetadataStore(metadataRoot), tracker: new UseTracker() };
}

export function formatResult(result: CollectionResult, besideAgent: boolean): string {
  const lines: string[] = [];
  for (const item of result.items) {
    lines.push(`${item.kind.padEnd(9)} ${item.bytes > 0 ? formatBytes(item.bytes).padStart(10) : "".padStart(10)}  ${item.repository ? `${item.repository}@` : ""}${item.name}`);
  }
  const r = result.removed;
  const verb = result.dryRun ? "would remove" : "removed";
  lines.push(
    `${verb} ${formatBytes(result.freedBytes)}: ${r.blobs} blobs, ${r.manifests} manifests, ${r.links} repository links, ${r.partials} partial downloads, ` +
      `${r.uploads} upload sessions, ${r.stagedBlocks} staged blocks, ${r.tempFiles} temp files, ${result.changesExamined ? `${r.changes} change-log entries` : "change log not examined"}` +
      `${result.spared > 0 ? ` (${result.spared} spared: in use again)` : ""} in ${(result.durationMs / 1000).toFixed(1)} s`,
  );
  if (besideAgent) lines.push("an agent is running on this folder: this dry run read the files as they are now and left out the change log (in the agent's memory)");
  return lines.join("\n") + "\n";
}
