/**
 * The local stack: Azurite (blob + queue), the Cosmos DB server with snapshot/restore,
 * and the cloud registry served by the local host. `npm start` runs it; the tests and
 * the benchmark start it on free ports.
 */
import { fork, type ChildProcess } from "node:child_process";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { blobService, createCloudServices, createCosmosClient, queueService } from "../shared/composition.js";
import { withMetrics } from "../shared/observability/metrics.js";
import { generatePassword, hashPassword } from "../shared/auth/passwords.js";
import { generateSigningKeyPem } from "../shared/auth/signing-key.js";
import { loadConfig, type AppConfig } from "../shared/config.js";
import { startLocalHost } from "../shared/http/local-host.js";
import { buildRoutes, buildTimers } from "../shared/http/routes.js";
import { COSMOS_CONTAINERS } from "../shared/store/cosmos/containers.js";
import { restoreSnapshot, saveSnapshot } from "./cosmos-snapshot.js";

/** Azurite's published development account; not a secret. */
const AZURITE_ACCOUNT = "devstoreaccount1";
const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/** The local Cosmos DB server accepts any key. */
const LOCAL_COSMOS_KEY = "local-cosmos-server-accepts-any-key";
const SNAPSHOT_EVERY_MS = 15_000;

export interface LocalStackOptions {
  /** Where Azurite's files and the Cosmos DB snapshot live. */
  dataDir: string;
  /** Registry port; 0 picks a free one. */
  port?: number;
  host?: string;
  /** Settings on top of the stack's own (e.g. REGISTRY_BLOB_DELIVERY). */
  settings?: Record<string, string>;
  log?: (message: string) => void;
}

export interface LocalStack {
  registryUrl: string;
  /** The admin key, when this start generated it (it is stored only as a hash, so shown once). */
  generatedAdminKey?: string;
  config: AppConfig;
  storageConnectionString: string;
  /** Saves the Cosmos DB snapshot now. */
  snapshot(): Promise<void>;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? ((message: string) => console.log(message));
  const host = options.host ?? "127.0.0.1";
  const dataDir = resolve(options.dataDir);
  const snapshotFile = join(dataDir, "cosmos-snapshot.json");
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

  const [blobPort, queuePort, tablePort, cosmosPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const children: ChildProcess[] = [];
  const stopChildren = async (): Promise<void> => {
    await Promise.all(children.map(stopChild));
  };
  try {
    children.push(await startAzurite(join(dataDir, "azurite"), blobPort, queuePort, tablePort));
    children.push(await startCosmosServer(cosmosPort));
  } catch (error) {
    await stopChildren();
    throw error;
  }

  const storageConnectionString =
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
    `BlobEndpoint=http://127.0.0.1:${blobPort}/${AZURITE_ACCOUNT};QueueEndpoint=http://127.0.0.1:${queuePort}/${AZURITE_ACCOUNT};`;
  const config = loadConfig({
    COSMOS_ENDPOINT: `http://127.0.0.1:${cosmosPort}/`,
    COSMOS_KEY: LOCAL_COSMOS_KEY,
    STORAGE_CONNECTION_STRING: storageConnectionString,
    ...localSettings,
  });

  const cosmos = createCosmosClient(config);
  let snapshotTimer: NodeJS.Timeout | undefined;
  let snapshotting: Promise<void> = Promise.resolve();
  const snapshot = (): Promise<void> => {
    // One snapshot at a time; a second request waits for the first and then writes anew.
    snapshotting = snapshotting.then(async () => {
      await saveSnapshot(cosmos, config.COSMOS_DATABASE, snapshotFile);
    });
    return snapshotting;
  };
  try {
    const restored = await restoreSnapshot(cosmos, config.COSMOS_DATABASE, snapshotFile);
    if (restored > 0) log(`restored ${restored} Cosmos DB documents from ${snapshotFile}`);
    await provision(config, cosmos);
    const services = createCloudServices(config, log);
    const localHost = await startLocalHost(withMetrics(buildRoutes(services)), buildTimers(services), { host, port: options.port ?? 0, log });
    snapshotTimer = setInterval(() => {
      snapshot().catch((error: unknown) => log(`cosmos snapshot failed: ${(error as Error).message}`));
    }, SNAPSHOT_EVERY_MS);
    snapshotTimer.unref();
    let stopping: Promise<void> | undefined;
    return {
      registryUrl: localHost.url,
      ...(generatedAdminKey ? { generatedAdminKey } : {}),
      config,
      storageConnectionString,
      snapshot,
      stop: () => {
        stopping ??= (async () => {
          clearInterval(snapshotTimer);
          // Stop taking requests first, then save what they wrote, then stop the emulators.
          await localHost.close();
          await snapshot();
          await stopChildren();
        })();
        return stopping;
      },
    };
  } catch (error) {
    clearInterval(snapshotTimer);
    await stopChildren();
    throw error;
  }
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

async function startAzurite(location: string, blobPort: number, queuePort: number, tablePort: number): Promise<ChildProcess> {
  const require = createRequire(import.meta.url);
  const azurite = join(resolve(require.resolve("azurite/package.json"), ".."), "dist/src/azurite.js");
  const exitWithParent = new URL("./exit-with-parent.js", import.meta.url).href;
  const child = fork(
    azurite,
    ["--silent", "--disableTelemetry", "--location", location,
      "--blobHost", "127.0.0.1", "--blobPort", String(blobPort),
      "--queueHost", "127.0.0.1", "--queuePort", String(queuePort),
      "--tableHost", "127.0.0.1", "--tablePort", String(tablePort)],
    { execArgv: ["--import", exitWithParent], stdio: ["ignore", "ignore", "pipe", "ipc"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`Azurite exited (${child.exitCode}): ${stderr.trim()}`);
    return fetch(`http://127.0.0.1:${blobPort}/`).then(() => true, () => false);
  }, "Azurite");
  return child;
}

async function startCosmosServer(port: number): Promise<ChildProcess> {
  const script = join(fileURLToPath(new URL(".", import.meta.url)), "cosmos-server.js");
  const child = fork(script, [String(port)], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  await new Promise<void>((resolvePromise, reject) => {
    child.once("message", () => resolvePromise());
    child.once("exit", (code) => reject(new Error(`the Cosmos DB server exited (${code}) before listening`)));
  });
  return child;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolvePromise();
    });
    child.kill("SIGTERM");
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

async function main(): Promise<void> {
  const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));
  const port = Number(process.env.PORT ?? "5000");
  const stack = await startLocalStack({
    dataDir: process.env.LOCAL_DATA_DIR ?? join(root, ".local"),
    port,
    settings: Object.fromEntries(
      Object.entries(process.env).filter((entry): entry is [string, string] => /^(REGISTRY_|BLOB_|COSMOS_DATABASE)/.test(entry[0]) && entry[1] !== undefined),
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
  Blob delivery                    ${stack.config.REGISTRY_BLOB_DELIVERY}
  Data folder                      ${process.env.LOCAL_DATA_DIR ?? join(root, ".local")}
${stack.generatedAdminKey ? `\n${line}\nADMIN KEY (shown once, stored only as a hash): ${stack.generatedAdminKey}\n${line}\n` : ""}
Create a token that may pull and push hello-world, then log in with it:
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
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the local stack (saving the Cosmos DB snapshot)...`);
    stack.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`stopping failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
