/**
 * Child process of the local stack: Azurite's Blob and Queue services, started from its
 * library rather than its command line so that a write is on disk before Azurite answers.
 *
 * Azurite keeps its metadata (which blobs, blocks and messages exist, and where their
 * bytes are) in LokiJS databases that it saves every 5 seconds; a crash within those
 * seconds kept a blob's bytes but forgot the blob, while the registry (whose Cosmos DB
 * journal is durable at once) kept the manifest that needs it. Here every answer to a
 * write waits for a save round: the bytes written so far are fsynced, then the extent
 * database (where bytes live), then the metadata database (which blobs exist), each
 * written whole, fsynced and renamed into place. Rounds are shared: the writes that
 * arrive during one round are all saved by the next.
 *
 * argv: Azurite's own options (--location, --blobPort, --queuePort, ...), plus
 * --no-durable-writes to keep Azurite's own 5-second saves (only to show what this prevents).
 */
import { closeSync, fsyncSync, openSync } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Server } from "node:http";
import { stopWhenTheStackSays } from "./child-lifecycle.js";
import { holdResponsesUntilDurable } from "./hold-responses.js";

interface LokiDatabase {
  filename: string;
  saveDatabase(callback: (error?: Error | null) => void): void;
  autosaveDisable(): void;
}
/** What this file uses of Azurite's BlobServer and QueueServer (dist/src/{blob,queue}/*Server.js). */
interface AzuriteServer {
  httpServer: Server;
  config: { persistencePathArray?: Array<{ locationPath: string }> };
  metadataStore: { db: LokiDatabase };
  extentMetadataStore: { db: LokiDatabase };
  start(): Promise<void>;
  close(): Promise<void>;
}

const durableWrites = !process.argv.includes("--no-durable-writes");
process.argv = process.argv.filter((argument) => argument !== "--no-durable-writes");
const log = (message: string): void => void process.stderr.write(`${message}\n`);

const require = createRequire(import.meta.url);
const azurite = (path: string): Record<string, unknown> => require(`azurite/dist/src/${path}`) as Record<string, unknown>;

/** Azurite's own start-up (dist/src/azurite.js), without the Table service, which the stack does not use. */
async function startAzurite(): Promise<AzuriteServer[]> {
  const Environment = azurite("common/Environment.js").default as new () => Record<string, (...args: unknown[]) => unknown>;
  const { BlobServerFactory } = azurite("blob/BlobServerFactory.js") as { BlobServerFactory: new () => { createServer(env: unknown): Promise<AzuriteServer & { config: { enableDebugLog: boolean; debugLogFilePath?: string } }> } };
  const QueueConfiguration = azurite("queue/QueueConfiguration.js").default as new (...args: unknown[]) => unknown;
  const QueueServer = azurite("queue/QueueServer.js").default as new (config: unknown) => AzuriteServer;
  const queueConstants = azurite("queue/utils/constants.js") as {
    DEFAULT_QUEUE_PERSISTENCE_ARRAY: Array<{ locationPath: string }>;
    DEFAULT_QUEUE_PERSISTENCE_PATH: string;
    DEFAULT_QUEUE_LOKI_DB_PATH: string;
    DEFAULT_QUEUE_EXTENT_LOKI_DB_PATH: string;
  };
  const Logger = azurite("common/Logger.js") as { configLogger(enable: boolean, file?: string): void };
  const { setExtentMemoryLimit } = azurite("common/ConfigurationBase.js") as { setExtentMemoryLimit(env: unknown, blob: boolean): void };

  const env = new Environment();
  const location = (await env.location!()) as string;
  const blobServer = await new BlobServerFactory().createServer(env);
  queueConstants.DEFAULT_QUEUE_PERSISTENCE_ARRAY[0]!.locationPath = join(location, queueConstants.DEFAULT_QUEUE_PERSISTENCE_PATH);
  const queueConfig = new QueueConfiguration(
    env.queueHost!(), env.queuePort!(), env.queueKeepAliveTimeout!(),
    join(location, queueConstants.DEFAULT_QUEUE_LOKI_DB_PATH), join(location, queueConstants.DEFAULT_QUEUE_EXTENT_LOKI_DB_PATH),
    queueConstants.DEFAULT_QUEUE_PERSISTENCE_ARRAY, !env.silent!(), undefined, env.debug!() !== undefined, await env.debug!(),
    env.loose!(), env.skipApiVersionCheck!(), env.cert!(), env.key!(), env.pwd!(), env.oauth!(), env.disableProductStyleUrl!(), env.inMemoryPersistence!(),
  );
  Logger.configLogger(blobServer.config.enableDebugLog, blobServer.config.debugLogFilePath);
  const queueServer = new QueueServer(queueConfig);
  setExtentMemoryLimit(env, true);
  return [blobServer, queueServer];
}

/** Save rounds of one service, shared by concurrent writes: a write waits for a round that started after it. */
class SaveRounds {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  /** When the previous round started: extent files changed since then are fsynced. */
  private previousRoundAt = 0;
  rounds = 0;

  constructor(
    private readonly server: AzuriteServer,
    private readonly extentFolders: string[],
  ) {}

  commit(): Promise<void> {
    if (!this.running) {
      this.running = this.save().then(
        () => {
          this.running = undefined;
        },
        (error: unknown) => {
          // Fail-stop, as the Cosmos DB journal does: a change in memory that could not be
          // saved must never be acknowledged, nor read by anyone.
          log(`Azurite: a save failed (${(error as Error).message}); stopping, nothing unsaved was acknowledged`);
          process.exit(70);
        },
      );
      return this.running;
    }
    // The running round may have read the databases before this write changed them.
    this.next ??= this.running.then(() => {
      this.next = undefined;
      return this.commit();
    });
    return this.next;
  }

  /** The round in flight or queued, if any: a read waits for it, so nobody acts on a write a crash could take back. */
  pending(): Promise<void> | undefined {
    return this.next ?? this.running;
  }

  private async save(): Promise<void> {
    this.rounds++;
    const since = this.previousRoundAt;
    this.previousRoundAt = Date.now();
    // Bytes before the records that point at them: extents, then where they are, then what exists.
    // By path, not by Azurite's open descriptors: it closes a full extent without an fsync.
    await fsyncFilesChangedSince(this.extentFolders, since);
    await saveDurably(this.server.extentMetadataStore.db);
    await saveDurably(this.server.metadataStore.db);
  }
}

/** Fsyncs the files in `folders` modified at or after `sinceMs` (with a margin for coarse mtimes). */
async function fsyncFilesChangedSince(folders: string[], sinceMs: number): Promise<void> {
  for (const folder of folders) {
    const names = await readdir(folder).catch(() => [] as string[]);
    await Promise.all(
      names.map(async (name) => {
        const path = join(folder, name);
        try {
          if ((await stat(path)).mtimeMs < sinceMs - 2000) return;
          const handle = await open(path, "r");
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
        } catch (error) {
          // Azurite's collector may delete an extent meanwhile; nothing to make durable then.
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        }
      }),
    );
  }
}

/** Loki writes the whole database to a temporary file and renames it; fsync makes that survive a power cut. */
async function saveDurably(database: LokiDatabase): Promise<void> {
  await new Promise<void>((resolve, reject) => database.saveDatabase((error) => (error ? reject(error) : resolve())));
  for (const path of [database.filename, dirname(database.filename)]) {
    const fd = openSync(path, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

const READS = new Set(["GET", "HEAD", "OPTIONS"]);

async function main(): Promise<void> {
  const servers = await startAzurite();
  // Each service (Blob, Queue) has its own databases, so its own rounds.
  const rounds = servers.map((server) => new SaveRounds(server, (server.config.persistencePathArray ?? []).map((location) => location.locationPath)));
  if (durableWrites) {
    servers.forEach((server, index) => {
      holdResponsesUntilDurable(server.httpServer, (request, response) => {
        const round = rounds[index]!;
        // A read waits for the save of what it may see; a refused write changed nothing;
        // an accepted one is saved before it is answered.
        if (READS.has(request.method ?? "GET")) return round.pending();
        return response.statusCode < 400 ? round.commit() : undefined;
      });
    });
  }
  for (const server of servers) await server.start();
  if (durableWrites) {
    // Records reach the disk only through rounds, after the bytes they point at; Loki's own
    // 5-second autosave could write a record before its bytes were fsynced.
    for (const server of servers) for (const store of [server.metadataStore, server.extentMetadataStore]) store.db.autosaveDisable();
  }
  process.send?.({ listening: true });
  // The benchmark asks how many save rounds the writes took.
  process.on("message", (message: unknown) => {
    if ((message as { type?: string } | null)?.type === "stats") process.send?.({ type: "stats", saveRounds: rounds.reduce((sum, round) => sum + round.rounds, 0) });
  });
  stopWhenTheStackSays(async () => {
    // Azurite's close saves its databases once more.
    for (const server of servers) await server.close();
  }, log);
}

main().catch((error: unknown) => {
  log(`Azurite cannot start: ${(error as Error).message}`);
  process.exit(1);
});
