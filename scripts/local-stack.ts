/**
 * The local stack: Azurite (blob + queue) and the Cosmos DB server, each made durable
 * before it answers (azurite-server.ts, cosmos-journal.ts), and the cloud registry served
 * by the local host. `npm start` runs it; the tests and the benchmark start it on free ports.
 */
import { fork, type ChildProcess } from "node:child_process";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { blobService, createCloudServices, createCosmosClient, queueService } from "../shared/composition.js";
import { withMetrics } from "../shared/observability/metrics.js";
import { generatePassword, hashPassword } from "../shared/auth/passwords.js";
import { generateSigningKeyPem } from "../shared/auth/signing-key.js";
import { httpLimitsOf, loadConfig, type AppConfig } from "../shared/config.js";
import { startLocalHost } from "../shared/http/local-host.js";
import { buildRoutes, buildTimers } from "../shared/http/routes.js";
import { COSMOS_CONTAINERS } from "../shared/store/cosmos/containers.js";
import { restoreLegacySnapshot } from "./cosmos-legacy-snapshot.js";
import { storageAuthFrom, storageProfile, type StorageAuth, type StorageProfile } from "./storage-profile.js";

/** The local Cosmos DB server accepts any key. */
const LOCAL_COSMOS_KEY = "local-cosmos-server-accepts-any-key";

export interface LocalStackOptions {
  /** Where Azurite's files and the Cosmos DB journal live. */
  dataDir: string;
  /** Registry port; 0 picks a free one. */
  port?: number;
  host?: string;
  /** Settings on top of the stack's own (e.g. REGISTRY_BLOB_DELIVERY). */
  settings?: Record<string, string>;
  log?: (message: string) => void;
  /**
   * What makes acknowledged writes durable: the Cosmos DB journal and the save before
   * Azurite answers (default: both). Turning either off is only to show what it prevents;
   * LOCAL_STACK_DURABILITY=off, =no-journal or =no-azurite-saves does the same for `npm start`.
   */
  durable?: boolean | { cosmosJournal: boolean; azuriteSaves: boolean };
  /**
   * How the app reaches storage (storage-profile.ts): key (a connection string, the default) or
   * identity (Azurite in OAuth mode over HTTPS, a token credential, no key). LOCAL_STORAGE_AUTH for `npm start`.
   */
  storageAuth?: StorageAuth;
}

export interface LocalStack {
  registryUrl: string;
  /** The admin key, when this start generated it (it is stored only as a hash, so shown once). */
  generatedAdminKey?: string;
  config: AppConfig;
  /** The settings the app was started with (what Azure's app settings would hold). */
  appSettings: Record<string, string>;
  storageAuth: StorageAuth;
  /** identity: the emulator's self-signed certificate, which a client following a redirect to storage must trust. */
  storageCertificateFile?: string;
  /** The emulator's connection string with its key: the stack's own access (provisioning, tests); the app gets it only in the key profile. */
  storageConnectionString: string;
  /** How often the emulators went to disk so far (for the durability benchmark). */
  durabilityStats(): Promise<{ journalFsyncs: number; azuriteSaveRounds: number }>;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? ((message: string) => console.log(message));
  const host = options.host ?? "127.0.0.1";
  const dataDir = resolve(options.dataDir);
  await mkdir(join(dataDir, "azurite"), { recursive: true });
  const signingKey = await readOrCreate(join(dataDir, "token-signing-key.pem"), async () => generateSigningKeyPem());
  let generatedAdminKey: string | undefined;
  const adminKeyHash =
    options.settings?.ADMIN_KEY_HASH ??
    (await readOrCreate(join(dataDir, "admin-key.hash"), async () => {
      generatedAdminKey = generatePassword();
      return hashPassword(generatedAdminKey);
    }));
  const localSettings = { TOKEN_SIGNING_KEY: signingKey, ADMIN_KEY_HASH: adminKeyHash, ...options.settings };
  // Check the caller's settings before starting anything (the endpoints come later).
  loadConfig({ COSMOS_ENDPOINT: "http://127.0.0.1/", COSMOS_KEY: "-", STORAGE_CONNECTION_STRING: "-", ...localSettings });

  const durable = typeof options.durable === "object" ? options.durable : { cosmosJournal: options.durable ?? true, azuriteSaves: options.durable ?? true };
  const storageAuth = options.storageAuth ?? "key";
  const children: ChildProcess[] = [];
  const stopChildren = async (): Promise<void> => {
    await Promise.all(children.splice(0).map(stopChild));
  };
  let emulators: { cosmosPort: number; storage: StorageProfile } | undefined;
  for (let attempt = 1; !emulators; attempt++) {
    const [blobPort, queuePort, cosmosPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const storage = await storageProfile(storageAuth, dataDir, blobPort, queuePort);
    try {
      children.push(await startAzurite(join(dataDir, "azurite"), blobPort, queuePort, durable.azuriteSaves, storage.azuriteArgs));
      children.push(await startCosmosServer(cosmosPort, join(dataDir, "cosmos"), durable.cosmosJournal));
      emulators = { cosmosPort, storage };
    } catch (error) {
      await stopChildren();
      // A port found free was taken before the emulator listened on it (by another process's
      // server, or as the local end of someone's connection; parallel test files make both
      // likely): new ports, a few times.
      const message = error instanceof Error ? error.message : String(error);
      if (attempt >= 3 || !message.includes("EADDRINUSE")) throw error;
      log(`an emulator's port was taken before it listened (${message}); trying other ports`);
    }
  }
  const { cosmosPort, storage } = emulators;

  const storageConnectionString = storage.connectionString;
  // Cosmos DB keeps its key in both profiles: the local server has no Entra sign-in.
  const appSettings = {
    COSMOS_ENDPOINT: `http://127.0.0.1:${cosmosPort}/`,
    COSMOS_KEY: LOCAL_COSMOS_KEY,
    ...storage.appSettings,
    ...localSettings,
  };
  const config = loadConfig(appSettings);

  const cosmos = createCosmosClient(config);
  try {
    await migrateLegacySnapshot(cosmos, config.COSMOS_DATABASE, join(dataDir, "cosmos-snapshot.json"), log);
    // The stack provisions with the emulator's key, as infra/ does with its deployment rights.
    await provision({ ...config, STORAGE_CONNECTION_STRING: storageConnectionString }, cosmos);
    const services = createCloudServices(config, log);
    const localHost = await startLocalHost(withMetrics(buildRoutes(services)), buildTimers(services), {
      host,
      port: options.port ?? 0,
      log,
      limits: httpLimitsOf(config),
    });
    let stopping: Promise<void> | undefined;
    return {
      registryUrl: localHost.url,
      ...(generatedAdminKey ? { generatedAdminKey } : {}),
      config,
      appSettings,
      storageAuth,
      ...(storage.certificateFile ? { storageCertificateFile: storage.certificateFile } : {}),
      storageConnectionString,
      durabilityStats: async () => {
        const [azurite, cosmosServer] = await Promise.all(children.map(askStats));
        return { journalFsyncs: Number(cosmosServer?.journalFsyncs ?? 0), azuriteSaveRounds: Number(azurite?.saveRounds ?? 0) };
      },
      stop: () => {
        // Stop taking requests and let those in flight finish, then stop the emulators,
        // which write out what they hold (every acknowledged write is on disk already).
        services.events.worker.stop();
        stopping ??= localHost.close().then(stopChildren, async (error: unknown) => {
          await stopChildren();
          throw error;
        });
        return stopping;
      },
    };
  } catch (error) {
    await stopChildren();
    throw error;
  }
}

/**
 * Before the journal, the stack saved the Cosmos DB server's documents to one snapshot
 * file every 15 s. A data folder from then is loaded once through the journal (which
 * makes every document durable as it goes in), and the old file is removed.
 */
async function migrateLegacySnapshot(cosmos: ReturnType<typeof createCosmosClient>, databaseId: string, file: string, log: (message: string) => void): Promise<void> {
  const restored = await restoreLegacySnapshot(cosmos, databaseId, file);
  if (restored === undefined) return;
  await rm(file);
  log(`moved ${restored} Cosmos DB documents from the old snapshot ${file} into the journal`);
}

/** Reads a secret file of the stack's own, creating it (owner-only) on first start. */
async function readOrCreate(file: string, create: () => Promise<string>): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const value = await create();
  await writeFile(file, value, { mode: 0o600 });
  await chmod(file, 0o600);
  return value;
}

/** Creates what infra/ creates in Azure: the database, its containers, the blob container, the import queue. */
async function provision(config: AppConfig, cosmos: ReturnType<typeof createCosmosClient>): Promise<void> {
  const { database } = await cosmos.databases.createIfNotExists({ id: config.COSMOS_DATABASE });
  for (const container of COSMOS_CONTAINERS) {
    await database.containers.createIfNotExists({
      id: container.id,
      partitionKey: { paths: [container.partitionKeyPath] },
      ...("defaultTtl" in container ? { defaultTtl: container.defaultTtl } : {}),
    });
  }
  await blobService(config).getContainerClient(config.BLOB_CONTAINER).createIfNotExists();
  await queueService(config).getQueueClient(config.IMPORT_QUEUE).createIfNotExists();
}

/** Runs a child of the stack (an emulator) and waits for it to say it is listening. */
async function startChild(script: string, args: string[], what: string, nodeFlags: string[] = []): Promise<ChildProcess> {
  const path = join(fileURLToPath(new URL(".", import.meta.url)), script);
  const child = fork(path, args, { execArgv: [...process.execArgv, ...nodeFlags], stdio: ["ignore", "ignore", "pipe", "ipc"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    // Emulators report problems (a torn journal write, a failed save) on stderr.
    process.stderr.write(chunk);
  });
  await new Promise<void>((resolvePromise, reject) => {
    child.once("message", () => resolvePromise());
    child.once("exit", (code) => reject(new Error(`${what} exited (${code}) before listening: ${stderr.trim()}`)));
  });
  return child;
}

/**
 * V8 flags for Azurite. It streams blob bytes through a small heap (~42 MiB live). After an
 * idle spell (V8's memory reducer) or a quiet period, V8 set its old-generation limit to
 * 1.1-1.4x the live heap, and then, under a sync's burst of blob reads, started a new
 * marking right after each full GC (its --trace-incremental-marking: "Start (task)" with
 * 11-16 MiB of headroom left): a mark-compact every 100-200 ms, 60% of Azurite's CPU in
 * GC, ~1 CPU-s instead of ~0.35 for 200 MiB, taken from the processes sharing the machine.
 * The state stayed for minutes once entered. A fixed growing factor of 2 keeps the limit
 * well above what a burst allocates. (Blob Storage in Azure runs on other machines; its
 * stand-in should not take their CPU here.)
 */
const AZURITE_NODE_FLAGS = ["--heap-growing-percent=100"];

function startAzurite(location: string, blobPort: number, queuePort: number, durable: boolean, extraArgs: string[]): Promise<ChildProcess> {
  return startChild(
    "azurite-server.js",
    ["--silent", "--disableTelemetry", "--location", location,
      "--blobHost", "127.0.0.1", "--blobPort", String(blobPort),
      "--queueHost", "127.0.0.1", "--queuePort", String(queuePort),
      ...extraArgs,
      ...(durable ? [] : ["--no-durable-writes"])],
    "Azurite",
    AZURITE_NODE_FLAGS,
  );
}

function startCosmosServer(port: number, folder: string, durable: boolean): Promise<ChildProcess> {
  return startChild("cosmos-server.js", [String(port), folder, ...(durable ? [] : ["--no-journal"])], "the Cosmos DB server");
}

function askStats(child: ChildProcess): Promise<Record<string, unknown>> {
  return new Promise((resolvePromise) => {
    const onMessage = (message: Record<string, unknown>): void => {
      if (message.type !== "stats") return;
      child.off("message", onMessage);
      resolvePromise(message);
    };
    child.on("message", onMessage);
    child.send({ type: "stats" });
  });
}

/** Asks a child to stop (it saves what it holds first); kills it only if it hangs. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolvePromise();
    });
    if (child.connected) child.send({ type: "stop" });
    else child.kill("SIGKILL");
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePromise(port));
    });
  });
}

function durabilityFromEnvironment(value: string | undefined): { cosmosJournal: boolean; azuriteSaves: boolean } {
  const choices = { on: [true, true], off: [false, false], "no-journal": [false, true], "no-azurite-saves": [true, false] } as const;
  const choice = choices[(value ?? "on") as keyof typeof choices];
  if (!choice) throw new Error(`LOCAL_STACK_DURABILITY must be one of ${Object.keys(choices).join(", ")}, not ${value}`);
  if (value !== "on" && value !== undefined) console.warn(`WARNING: LOCAL_STACK_DURABILITY=${value}: a crash can lose acknowledged writes (for demonstrations only)`);
  return { cosmosJournal: choice[0], azuriteSaves: choice[1] };
}

async function main(): Promise<void> {
  const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));
  const port = Number(process.env.PORT ?? "5000");
  const stack = await startLocalStack({
    dataDir: process.env.LOCAL_DATA_DIR ?? join(root, ".local"),
    port,
    durable: durabilityFromEnvironment(process.env.LOCAL_STACK_DURABILITY),
    storageAuth: storageAuthFrom(process.env.LOCAL_STORAGE_AUTH),
    settings: Object.fromEntries(
      Object.entries(process.env).filter((entry): entry is [string, string] => /^(REGISTRY_|BLOB_|COSMOS_DATABASE|HTTP_)/.test(entry[0]) && entry[1] !== undefined),
    ),
  });
  const line = "=".repeat(78);
  const host = stack.registryUrl.replace("http://", "");
  const key = stack.generatedAdminKey ?? "<the admin key printed at the first start>";
  console.log(`
Local stack is up.
  Registry (OCI Distribution API)  ${stack.registryUrl}/v2/
  Token server                     ${stack.registryUrl}/oauth2/token
  Management API                   ${stack.registryUrl}/management/
  Web console (sign in: admin key) ${stack.registryUrl}/console/
  Blob delivery                    ${stack.config.REGISTRY_BLOB_DELIVERY}
  Storage sign-in                  ${stack.storageAuth === "identity" ? "identity (Azurite OAuth over HTTPS, user-delegation SAS)" : "account key (LOCAL_STORAGE_AUTH=identity for the deployed configuration)"}
  Data folder                      ${process.env.LOCAL_DATA_DIR ?? join(root, ".local")}
${stack.generatedAdminKey ? `\n${line}\nADMIN KEY (shown once, stored only as a hash): ${stack.generatedAdminKey}\n${line}\n` : ""}
With the admin CLI (the README's quickstart goes on from here; a lost key: stop, delete
${join(process.env.LOCAL_DATA_DIR ?? join(root, ".local"), "admin-key.hash")}, start again):
  node dist/scripts/admin-cli/main.js login --endpoint ${stack.registryUrl}     # paste the admin key

Or by hand: create a token that may pull and push hello-world, then log in with it:
  curl -s -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" \\
    -d '{"name":"hello-token","repositories":[{"name":"hello-world","actions":["content/read","content/write"]}]}' \\
    ${stack.registryUrl}/management/tokens
  curl -s -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" -d '{"name":"password1"}' \\
    ${stack.registryUrl}/management/tokens/hello-token/credentials/generate
  podman login --tls-verify=false -u hello-token ${host}
  podman pull --tls-verify=false ${host}/hello-world:latest
`);
  if (stack.config.REGISTRY_ALLOW_ANONYMOUS) {
    console.log(`${line}
WARNING: ANONYMOUS ACCESS IS ON (REGISTRY_ALLOW_ANONYMOUS=true). Anyone who reaches
${stack.registryUrl} can pull, push and delete without credentials.
${line}`);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      console.log(`${signal}: still stopping (finishing requests in flight, then the emulators)...`);
      return;
    }
    stopping = true;
    console.log(`\n${signal}: stopping the local stack...`);
    stack.stop().then(
      () => {
        console.log("stopped; every acknowledged write is on disk.");
        process.exit(0);
      },
      (error: unknown) => {
        console.error(`stopping failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  };
  // The emulators ignore these (child-lifecycle.ts): this process stops them, after the registry.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => stop(signal));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
