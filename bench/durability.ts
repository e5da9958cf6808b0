/**
 * What durability costs the local stack (issue: nothing acknowledged is ever lost), with
 * the Cosmos DB journal and Azurite's save-before-answer on, and off (the emulators' own
 * schedules, which lose writes on a crash), side by side:
 *   1. token create latency (management API: a scope map, a token, the counters)
 *   2. manifest PUT latency (a tag on blobs already pushed), and a 4 KiB blob push
 *   3. manifest PUTs per second with 16 concurrent clients, and the journal fsyncs and
 *      Azurite save rounds per second that they cost
 *   4. a restart with a large journal: 50,000 document writes, then SIGKILL, then the time
 *      until the Cosmos DB server answers again (its replay and compaction)
 * `npm run bench:durability` builds and runs it.
 */
import { fork } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CosmosClient } from "@azure/cosmos";
import { generatePassword, hashPassword } from "../shared/auth/passwords.js";
import { startLocalStack } from "../scripts/local-stack.js";
import { median, percentile } from "./stats.js";

const p95 = (values: number[]): number => percentile(Float64Array.from(values).sort(), values.length, 95);

const TOKEN_SAMPLES = 60;
const MANIFEST_SAMPLES = 200;
const LOAD_MS = 5_000;
const LOAD_CONCURRENCY = 16;
const JOURNAL_DOCUMENTS = 50_000;

const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

interface Figures {
  tokenCreateP50Ms: number;
  tokenCreateP95Ms: number;
  manifestPutP50Ms: number;
  manifestPutP95Ms: number;
  blobPushP50Ms: number;
  manifestPutsPerSecond: number;
  journalFsyncsPerSecond: number;
  azuriteSaveRoundsPerSecond: number;
}

async function measureStack(durable: boolean): Promise<Figures> {
  const dataDir = await mkdtemp(join(tmpdir(), "bench-durability-"));
  const adminKey = generatePassword();
  const stack = await startLocalStack({ dataDir, durable, log: () => {}, settings: { ADMIN_KEY_HASH: await hashPassword(adminKey), REGISTRY_ALLOW_ANONYMOUS: "true" } });
  try {
    const base = stack.registryUrl;
    const timed = async (call: () => Promise<Response>, expected: number): Promise<number> => {
      const started = performance.now();
      const response = await call();
      await response.arrayBuffer();
      if (response.status !== expected) throw new Error(`answered ${response.status}, expected ${expected}`);
      return performance.now() - started;
    };

    const tokenTimes: number[] = [];
    for (let i = 0; i < TOKEN_SAMPLES; i++) {
      tokenTimes.push(
        await timed(
          () =>
            fetch(`${base}/management/tokens`, {
              method: "POST",
              headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" },
              body: JSON.stringify({ name: `bench-token-${i}`, repositories: [{ name: "bench/app", actions: ["content/read"] }] }),
            }),
          201,
        ),
      );
    }

    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
    const blobTimes: number[] = [];
    for (let i = 0; i < 40; i++) {
      const blob = randomBytes(4096);
      blobTimes.push(await timed(() => fetch(`${base}/v2/bench/app/blobs/uploads/?digest=${sha256(blob)}`, { method: "POST", body: blob }), 201));
    }
    await fetch(`${base}/v2/bench/app/blobs/uploads/?digest=${sha256(config)}`, { method: "POST", body: config });
    const manifest = (tag: string): Buffer =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
          layers: [],
          annotations: { tag },
        }),
      );
    const put = (tag: string): Promise<Response> =>
      fetch(`${base}/v2/bench/app/manifests/${tag}`, { method: "PUT", headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" }, body: manifest(tag) });
    const manifestTimes: number[] = [];
    for (let i = 0; i < MANIFEST_SAMPLES; i++) manifestTimes.push(await timed(() => put(`seq-${i}`), 201));

    const before = await stack.durabilityStats();
    let puts = 0;
    const deadline = performance.now() + LOAD_MS;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: LOAD_CONCURRENCY }, async (_, worker) => {
        for (let i = 0; performance.now() < deadline; i++) {
          await timed(() => put(`load-${worker}-${i}`), 201);
          puts++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const after = await stack.durabilityStats();
    return {
      tokenCreateP50Ms: median(tokenTimes),
      tokenCreateP95Ms: p95(tokenTimes),
      manifestPutP50Ms: median(manifestTimes),
      manifestPutP95Ms: p95(manifestTimes),
      blobPushP50Ms: median(blobTimes),
      manifestPutsPerSecond: puts / seconds,
      journalFsyncsPerSecond: (after.journalFsyncs - before.journalFsyncs) / seconds,
      azuriteSaveRoundsPerSecond: (after.azuriteSaveRounds - before.azuriteSaveRounds) / seconds,
    };
  } finally {
    await stack.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Starts the Cosmos DB server child on `port` with its journal in `folder`; resolves with its start-up report. */
function startCosmosServer(port: number, folder: string): Promise<{ child: ReturnType<typeof fork>; restored: { documents: number; replayed: number; ms: number }; startMs: number }> {
  const started = performance.now();
  const child = fork(fileURLToPath(new URL("../scripts/cosmos-server.js", import.meta.url)), [String(port), folder], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    child.once("message", (message: { restored: { documents: number; replayed: number; ms: number } }) => resolve({ child, restored: message.restored, startMs: performance.now() - started }));
    child.once("exit", (code) => reject(new Error(`the Cosmos DB server exited (${code})`)));
  });
}

async function measureRestart(): Promise<{ journalBytes: number; replayed: number; restartMs: number; replayMs: number }> {
  const folder = await mkdtemp(join(tmpdir(), "bench-journal-"));
  const port = 18000 + Math.floor(Math.random() * 2000);
  try {
    const first = await startCosmosServer(port, folder);
    const client = new CosmosClient({ endpoint: `http://127.0.0.1:${port}/`, key: "local", connectionPolicy: { enableEndpointDiscovery: false } });
    const { database } = await client.databases.createIfNotExists({ id: "bench" });
    const { container } = await database.containers.createIfNotExists({ id: "docs", partitionKey: { paths: ["/repository"] } });
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let i = next++; i < JOURNAL_DOCUMENTS; i = next++) {
          await container.items.upsert({ id: `doc-${i}`, repository: `repo-${i % 100}`, digest: `sha256:${randomBytes(32).toString("hex")}`, createdAt: new Date().toISOString() });
        }
      }),
    );
    const journalBytes = (await stat(join(folder, "journal-2.log"))).size;
    first.child.kill("SIGKILL");
    await new Promise((resolve) => first.child.once("exit", resolve));
    const second = await startCosmosServer(port, folder);
    second.child.kill("SIGKILL");
    return { journalBytes, replayed: second.restored.replayed, restartMs: second.startMs, replayMs: second.restored.ms };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const durable = await measureStack(true);
  const volatile = await measureStack(false);
  const row = (name: keyof Figures, unit: string): string =>
    `${name.padEnd(28)} ${durable[name].toFixed(1).padStart(9)} ${volatile[name].toFixed(1).padStart(9)}  ${unit}`;
  console.log(`${"".padEnd(28)} ${"durable".padStart(9)} ${"off".padStart(9)}`);
  console.log(row("tokenCreateP50Ms", "ms"));
  console.log(row("tokenCreateP95Ms", "ms"));
  console.log(row("manifestPutP50Ms", "ms"));
  console.log(row("manifestPutP95Ms", "ms"));
  console.log(row("blobPushP50Ms", "ms (4 KiB, monolithic)"));
  console.log(row("manifestPutsPerSecond", `/s (${LOAD_CONCURRENCY} clients)`));
  console.log(row("journalFsyncsPerSecond", "/s during that load"));
  console.log(row("azuriteSaveRoundsPerSecond", "/s during that load"));
  const restart = await measureRestart();
  console.log(
    `restart after SIGKILL with a ${(restart.journalBytes / 1024 / 1024).toFixed(1)} MiB journal (${restart.replayed} entries): ` +
      `${restart.restartMs.toFixed(0)} ms until the Cosmos DB server listens (replay and compaction ${restart.replayMs} ms)`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
