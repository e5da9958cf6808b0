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
import { closeSync, fsync, fsyncSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { IncomingMessage, Server } from "node:http";
import { stopWhenTheStackSays } from "./child-lifecycle.js";
import { holdResponsesUntilDurable } from "./hold-responses.js";

interface LokiDatabase {
  filename: string;
  saveDatabase(callback: (error?: Error | null) => void): void;
}
/** What this file uses of Azurite's BlobServer and QueueServer (dist/src/{blob,queue}/*Server.js). */
interface AzuriteServer {
  httpServer: Server;
  metadataStore: { db: LokiDatabase };
  extentMetadataStore: { db: LokiDatabase };
  extentStore: { activeWriteExtents?: Array<{ fd?: number }> };
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
  rounds = 0;

  constructor(private readonly server: AzuriteServer) {}

  commit(): Promise<void> {
    if (!this.running) {
      this.running = this.save().finally(() => (this.running = undefined));
      return this.running;
    }
    // The running round may have read the databases before this write changed them.
    this.next ??= this.running.then(() => {
      this.next = undefined;
      return this.commit();
    });
    return this.next;
  }

  private async save(): Promise<void> {
    this.rounds++;
    // Bytes before the records that point at them: extents, then where they are, then what exists.
    const extentFds = (this.server.extentStore.activeWriteExtents ?? []).map((extent) => extent.fd).filter((fd): fd is number => fd !== undefined);
    await Promise.all(extentFds.map((fd) => new Promise<void>((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())))));
    await saveDurably(this.server.extentMetadataStore.db);
    await saveDurably(this.server.metadataStore.db);
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
  const rounds = servers.map((server) => new SaveRounds(server));
  if (durableWrites) {
    servers.forEach((server, index) => {
      holdResponsesUntilDurable(
        server.httpServer,
        // A refused write changed nothing; an accepted one is saved before it is answered.
        (_request, response) => (response.statusCode < 400 ? rounds[index]!.commit() : undefined),
        (request: IncomingMessage) => !READS.has(request.method ?? "GET"),
      );
    });
  }
  for (const server of servers) await server.start();
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
