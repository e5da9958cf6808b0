/**
 * Disk limits at the edge (docs/edge-agent.md "Disk limits"): agents run in this process
 * against the real local cloud stack.
 *  - A small --max-storage: the agent syncs what fits, reports DISK_STORAGE_FULL, keeps serving
 *    what it has (the image that did not fit is neither half-visible nor recorded as failed),
 *    and resumes when there is room; a ReadWrite edge refuses pushes over its budget with 507.
 *  - A small real volume (an 8 MiB tmpfs): a push that runs out of space (ENOSPC) and a volume
 *    turned read-only (EROFS) are reported as DISK_ERROR, nothing partial is left, and pulls go
 *    on. Skipped, saying why, where this machine may not mount a tmpfs.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEdgeAgent, type EdgeAgent } from "../../edge-agent/src/agent.js";
import { createLogger } from "../../edge-agent/src/log.js";
import { parseStartOptions } from "../../edge-agent/src/options.js";
import { createConnectedRegistry, eventually } from "../support/edge.js";
import { pushRandomImage } from "../support/edge-e2e.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, OCI_MANIFEST, basicAuthorization, sha256 } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const execFileAsync = promisify(execFile);
const KiB = 1024;
const MiB = 1024 * KiB;

interface InProcessEdge {
  agent: EdgeAgent;
  dataDir: string;
  logs: string[];
  status(): Promise<Record<string, any>>;
  metrics(): Promise<string>;
}

async function startAgent(connectionString: string, dataDir: string, extra: string[]): Promise<InProcessEdge> {
  const options = await parseStartOptions(
    ["--connection-string", connectionString, "--http", "--host", "127.0.0.1", "--port", "0", "--data", dataDir, "--sync-interval", "0.5", ...extra],
    {},
  );
  const logs: string[] = [];
  const agent = await startEdgeAgent(options, createLogger("debug", (line) => logs.push(line)));
  return {
    agent,
    dataDir,
    logs,
    status: async () => (await (await fetch(`${agent.url}/status`)).json()) as Record<string, any>,
    metrics: async () => (await fetch(`${agent.url}/metrics`)).text(),
  };
}

const codes = (status: Record<string, any>): string[] => (status.conditions as Array<{ code: string }>).map((condition) => condition.code);

/** Files under a folder, recursively (none when it does not exist). */
async function filesUnder(directory: string): Promise<string[]> {
  try {
    return (await readdir(directory, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  } catch {
    return [];
  }
}

/** Why this machine cannot mount a small tmpfs, or undefined when it can (probed once, then unmounted). */
async function tmpfsRefusal(): Promise<string | undefined> {
  const probe = await mkdtemp(join(tmpdir(), "edge-tmpfs-probe-"));
  try {
    await execFileAsync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe]);
    await execFileAsync("umount", [probe]);
    return undefined;
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message?: string };
    return `mount -t tmpfs is refused here (${(stderr || message || String(error)).trim()})`;
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}

const cannotMount = await tmpfsRefusal();

let stack: TestStack;
let management: ManagementClient;
let cloud: AuthorizedClient;
let pullerPassword: string;
let adminPassword: string;
let pusherPassword: string;

beforeAll(async () => {
  stack = await startTestStack({ anonymous: false });
  management = new ManagementClient(stack.registryUrl);
  adminPassword = await management.tokenWithPassword("cloudadmin", { scopeMap: "_repositories_admin" });
  cloud = new AuthorizedClient(stack.registryUrl, basicAuthorization("cloudadmin", adminPassword));
  pullerPassword = await management.tokenWithPassword("puller", { scopeMap: "_repositories_pull" });
  pusherPassword = await management.tokenWithPassword("pusher", { scopeMap: "_repositories_admin" });
}, 120_000);

afterAll(async () => {
  await stack?.destroy();
});

describe("a storage budget at the edge", () => {
  let dataDir: string;
  let edge: InProcessEdge | undefined;
  const images = new Map<string, Awaited<ReturnType<typeof pushRandomImage>>>();

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "edge-budget-"));
    // Three images of 256 KiB each: a budget of 600 KiB holds two of them.
    for (const tag of ["a", "b", "c"]) images.set(tag, await pushRandomImage(cloud, "budget", tag, [256 * KiB]));
  }, 60_000);

  afterAll(async () => {
    if (process.env.EDGE_DEBUG) console.log(edge?.logs.join("\n"));
    await edge?.agent.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("syncs what fits, reports DISK_STORAGE_FULL, keeps serving what it has, and resumes once there is room", async () => {
    const connectionString = await createConnectedRegistry(management, { name: "budget1", mode: "ReadOnly", repositories: ["budget"], clientTokens: ["puller"] }, stack.registryHost);
    edge = await startAgent(connectionString, dataDir, ["--max-storage", "600KiB", "--min-free-space", "0"]);
    const full = await eventually(async () => {
      const status = await edge!.status();
      return codes(status).includes("DISK_STORAGE_FULL") && status;
    }, 30_000, "DISK_STORAGE_FULL");
    expect(full.conditions[0].description).toMatch(/the storage budget of 600\.0 KiB is reached/);

    const puller = new AuthorizedClient(edge.agent.url, basicAuthorization("puller", pullerPassword));
    // The images that fitted stay complete; let the running downloads of the cycle end first.
    const served = await eventually(async () => {
      const tags = ((await (await puller.fetch("/v2/budget/tags/list")).json()) as { tags?: string[] }).tags ?? [];
      return tags.length === 2 && tags;
    }, 20_000, "two tags served");
    const [missing] = ["a", "b", "c"].filter((tag) => !served.includes(tag));
    for (const tag of served) {
      const manifest = await puller.fetch(`/v2/budget/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
      expect(manifest.status).toBe(200);
      expect(Buffer.from(await manifest.arrayBuffer())).toEqual(images.get(tag)!.manifest);
      for (const [digest, bytes] of images.get(tag)!.bytes) {
        const blob = await puller.fetch(`/v2/budget/blobs/${digest}`);
        expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(sha256(bytes));
      }
    }
    // The one that did not fit is not half-there, and not a failed object: it waits for room.
    const absent = await puller.fetch(`/v2/budget/manifests/${images.get(missing!)!.digest}`, { headers: { Accept: OCI_MANIFEST } });
    expect(absent.status).toBe(404);
    const waiting = await edge.status();
    expect(waiting.failedItems).toEqual([]);
    expect(waiting.lastError).toBeUndefined();
    expect(waiting.fullSyncDone).toBe(false);
    const metrics = await edge.metrics();
    expect(metrics).toMatch(/connected_registry_storage_full_total\{for="sync"\} [1-9]/);
    expect(metrics).toMatch(/connected_registry_storage_budget_bytes 614400/);
    expect(metrics).toMatch(/connected_registry_disk_condition\{code="DISK_STORAGE_FULL"\} 1/);
    expect(metrics).not.toMatch(/connected_registry_sync_errors_total\{kind="refused"\}/);
    const stored = Number(/connected_registry_storage_used_bytes (\d+)/.exec(metrics)?.[1]);
    expect(stored).toBeGreaterThan(2 * 256 * KiB);
    expect(stored).toBeLessThanOrEqual(600 * KiB);

    // More room (a bigger budget after a restart): the sync resumes by itself and the condition goes.
    await edge.agent.stop();
    edge = await startAgent(connectionString, dataDir, ["--max-storage", "10MiB", "--min-free-space", "0"]);
    const done = await eventually(async () => {
      const status = await edge!.status();
      return status.fullSyncDone && codes(status).length === 0 && status;
    }, 30_000, "full sync with the condition cleared");
    expect(done.conditions).toEqual([]);
    const resumed = new AuthorizedClient(edge.agent.url, basicAuthorization("puller", pullerPassword));
    expect(((await (await resumed.fetch("/v2/budget/tags/list")).json()) as { tags: string[] }).tags.sort()).toEqual(["a", "b", "c"]);
    const layer = images.get(missing!)!.blobs[1]!;
    expect(sha256(Buffer.from(await (await resumed.fetch(`/v2/budget/blobs/${layer}`)).arrayBuffer()))).toBe(layer);
  }, 90_000);

  it("asks for a garbage collection when room runs out, and resumes by itself, without a restart, once the collection freed room", async () => {
    const gcData = await mkdtemp(join(tmpdir(), "edge-budget-gc-"));
    // An unreferenced 300 KiB blob, as a replaced `latest` leaves behind: what a collection removes.
    const orphan = randomBytes(300 * KiB);
    const orphanPath = join(gcData, "blobs", "sha256", sha256(orphan).slice("sha256:".length));
    await mkdir(join(gcData, "blobs", "sha256"), { recursive: true });
    await writeFile(orphanPath, orphan);
    const pushed = [await pushRandomImage(cloud, "collected", "x", [256 * KiB]), await pushRandomImage(cloud, "collected", "y", [256 * KiB])];
    const connectionString = await createConnectedRegistry(management, { name: "budget3", mode: "ReadOnly", repositories: ["collected"], clientTokens: ["puller"] }, stack.registryHost);
    const gc = await startAgent(connectionString, gcData, ["--max-storage", "600KiB", "--min-free-space", "0"]);
    let collections = 0;
    gc.agent.disk.collectWith(async () => {
      collections++;
      await rm(orphanPath);
      return { freedBytes: orphan.length };
    });
    try {
      await eventually(async () => collections > 0, 30_000, "a collection asked for");
      const done = await eventually(async () => {
        const status = await gc.status();
        return status.fullSyncDone && status;
      }, 30_000, "the sync resumed and completed");
      expect(done.conditions).toEqual([]);
      expect(collections).toBe(1);
      const puller = new AuthorizedClient(gc.agent.url, basicAuthorization("puller", pullerPassword));
      for (const [index, tag] of ["x", "y"].entries()) {
        const manifest = await puller.fetch(`/v2/collected/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
        expect(Buffer.from(await manifest.arrayBuffer())).toEqual(pushed[index]!.manifest);
      }
      expect(await gc.metrics()).toMatch(/connected_registry_storage_full_total\{for="sync"\} 1\n/);
    } finally {
      await gc.agent.stop();
      await rm(gcData, { recursive: true, force: true });
    }
  }, 90_000);

  it("refuses a push over the budget at a ReadWrite edge with 507 and a message saying the storage is full, storing nothing", async () => {
    const rwData = await mkdtemp(join(tmpdir(), "edge-budget-rw-"));
    const connectionString = await createConnectedRegistry(management, { name: "budget2", mode: "ReadWrite", repositories: ["pushed"], clientTokens: ["pusher"] }, stack.registryHost);
    const rw = await startAgent(connectionString, rwData, ["--max-storage", "1000B", "--min-free-space", "0"]);
    try {
      await eventually(async () => (await rw.status()).fullSyncDone, 30_000, "first sync");
      const client = new AuthorizedClient(rw.agent.url, basicAuthorization("pusher", pusherPassword));
      const tooBig = randomBytes(1001);
      const refused = await client.fetch(`/v2/pushed/blobs/uploads/?digest=${sha256(tooBig)}`, { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: tooBig });
      expect(refused.status).toBe(507);
      const error = ((await refused.json()) as { errors: Array<{ code: string; message: string }> }).errors[0]!;
      expect(error.code).toBe("UNKNOWN");
      expect(error.message).toMatch(/the storage of connected registry "budget2" is full: no room for a push to \/v2\/pushed\/blobs\/uploads\/ \(1001 B\): the storage budget of 1000 B is reached/);
      expect((await client.fetch(`/v2/pushed/blobs/${sha256(tooBig)}`, { method: "HEAD" })).status).toBe(404);
      expect(await filesUnder(join(rwData, "staging"))).toEqual([]);
      expect(await filesUnder(join(rwData, "uploads"))).toEqual([]);

      // Exactly the budget fits; after it, any upload is refused, even one without a length.
      const fits = randomBytes(1000);
      expect(await client.pushBlob("pushed", fits)).toBe(sha256(fits));
      const start = await client.fetch("/v2/pushed/blobs/uploads/", { method: "POST" });
      expect(start.status).toBe(507);
      const status = await eventually(async () => {
        const answer = await rw.status();
        return codes(answer).includes("DISK_STORAGE_FULL") && answer;
      }, 10_000, "DISK_STORAGE_FULL after a refused push");
      // A sync cycle does not clear it while the store is at its budget.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(codes(await rw.status())).toContain("DISK_STORAGE_FULL");
      expect(status.conditions[0].description).toMatch(/1000 B stored/);
      expect(await rw.metrics()).toMatch(/connected_registry_storage_full_total\{for="push"\} 2/);
    } finally {
      await rw.agent.stop();
      await rm(rwData, { recursive: true, force: true });
    }
  }, 60_000);
});

describe.skipIf(cannotMount !== undefined)(`a real small volume (8 MiB tmpfs)${cannotMount ? `: skipped, ${cannotMount}` : ""}`, () => {
  let root: string;
  let volume: string;
  let edge: InProcessEdge | undefined;
  let client: AuthorizedClient;
  let synced: Awaited<ReturnType<typeof pushRandomImage>>;
  let mounted = false;
  let readOnlyBind: string | undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "edge-volume-"));
    volume = join(root, "volume");
    await mkdir(volume);
    await execFileAsync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", volume]);
    mounted = true;
    synced = await pushRandomImage(cloud, "onvolume", "v1", [64 * KiB]);
    const connectionString = await createConnectedRegistry(management, { name: "volume1", mode: "ReadWrite", repositories: ["onvolume"], clientTokens: ["pusher"] }, stack.registryHost);
    // No floor: the write itself must hit the end of the volume.
    edge = await startAgent(connectionString, join(volume, "data"), ["--min-free-space", "0"]);
    client = new AuthorizedClient(edge.agent.url, basicAuthorization("pusher", pusherPassword));
    await eventually(async () => (await edge!.status()).fullSyncDone, 30_000, "first sync");
  }, 60_000);

  afterAll(async () => {
    if (process.env.EDGE_DEBUG) console.log(edge?.logs.join("\n"));
    if (readOnlyBind) await execFileAsync("umount", [readOnlyBind]).catch(() => undefined);
    await edge?.agent.stop();
    // Lazily: the agent's change log keeps its file open after stop (the in-process agent's, not a real one's problem).
    if (mounted) await execFileAsync("umount", ["-l", volume]);
    await rm(root, { recursive: true, force: true });
  });

  async function expectSyncedImageServed(): Promise<void> {
    const manifest = await client.fetch("/v2/onvolume/manifests/v1", { headers: { Accept: OCI_MANIFEST } });
    expect(manifest.status).toBe(200);
    expect(Buffer.from(await manifest.arrayBuffer())).toEqual(synced.manifest);
    const layer = synced.blobs[1]!;
    expect(sha256(Buffer.from(await (await client.fetch(`/v2/onvolume/blobs/${layer}`)).arrayBuffer()))).toBe(layer);
  }

  it("reports a push that fills the volume (ENOSPC) as DISK_ERROR, leaves nothing partial, serves pulls, and clears it when a write goes through", async () => {
    const start = await client.fetch("/v2/onvolume/blobs/uploads/", { method: "POST" });
    expect(start.status).toBe(202);
    // Streamed without a length (so no limit can refuse it up front): 12 MiB into 8 MiB.
    const chunk = randomBytes(MiB);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 12) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const patch = await client.fetch(start.headers.get("location")!, { method: "PATCH", headers: { "Content-Type": "application/octet-stream" }, body, duplex: "half" } as RequestInit);
    expect(patch.status).toBe(507);
    expect(((await patch.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toMatch(/storage refused a write \(ENOSPC: no space left on the volume\); nothing partial was kept/);

    const status = await edge!.status();
    expect(status.conditions.find((c: { code: string }) => c.code === "DISK_ERROR")?.description).toMatch(/content: ENOSPC/);
    expect(await edge!.metrics()).toMatch(/connected_registry_disk_errors_total\{area="content",errno="ENOSPC"\} 1/);
    // Nothing partial: no staged block, no upload data, no temp file; the volume's space is back.
    expect(await filesUnder(join(volume, "data", "staging"))).toEqual([]);
    expect(await filesUnder(join(volume, "data", "uploads"))).toEqual([]);
    expect((await filesUnder(join(volume, "data", "blobs"))).filter((file) => file.endsWith(".tmp"))).toEqual([]);
    const { stdout } = await execFileAsync("df", ["-k", "--output=avail", volume]);
    expect(Number(stdout.trim().split("\n")[1])).toBeGreaterThan(6 * 1024);
    await expectSyncedImageServed();

    const small = randomBytes(2 * KiB);
    expect(await client.pushBlob("onvolume", small)).toBe(sha256(small));
    await eventually(async () => !codes(await edge!.status()).includes("DISK_ERROR"), 10_000, "DISK_ERROR cleared");
  }, 60_000);

  it("reports a data folder turned read-only (EROFS) as DISK_ERROR and keeps serving pulls, then recovers when it takes writes again", async () => {
    // A read-only bind mount over the data folder: the volume itself cannot be remounted
    // read-only while the agent holds files open for writing, and a failing disk looks like this.
    readOnlyBind = join(volume, "data");
    await execFileAsync("mount", ["--bind", readOnlyBind, readOnlyBind]);
    await execFileAsync("mount", ["-o", "remount,ro,bind", readOnlyBind]);
    const refused = await client.fetch(`/v2/onvolume/blobs/uploads/?digest=${sha256("x")}`, { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: "x" });
    expect(refused.status).toBe(500);
    expect(((await refused.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toMatch(/EROFS: the volume is read-only/);
    const status = await eventually(async () => {
      const answer = await edge!.status();
      return codes(answer).includes("DISK_ERROR") && answer;
    }, 10_000, "DISK_ERROR");
    expect(status.conditions.find((c: { code: string }) => c.code === "DISK_ERROR").description).toMatch(/EROFS/);
    await expectSyncedImageServed();
    expect(await edge!.metrics()).toMatch(/connected_registry_disk_errors_total\{area="[a-z-]+",errno="EROFS"\} [1-9]/);

    await execFileAsync("umount", [readOnlyBind]);
    readOnlyBind = undefined;
    const again = randomBytes(KiB);
    expect(await client.pushBlob("onvolume", again)).toBe(sha256(again));
    await eventually(async () => codes(await edge!.status()).length === 0, 15_000, "conditions cleared");
  }, 60_000);
});
