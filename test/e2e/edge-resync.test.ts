/**
 * End-to-end tests of sync that must converge when things go wrong at the parent (issue 11):
 * a parent that went back in time (the cloud restored from an older copy of its data, a parent
 * edge restored from an older copy of its folder), and one broken object at the parent. Real
 * processes: the local stack (stopped cleanly, its whole data folder copied and put back, as an
 * operator restores a backup), edge agents from dist/, clients over plain HTTP.
 *
 * Every test has its own cloud stack (they stop and restore it), connected registries,
 * repositories, tokens and folders, and leaves no process behind.
 */
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { afterEach, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually, removeEdgeData, startEdge, type EdgeOptions, type EdgeProcess } from "../support/edge.js";
import { ACCEPT, basic, clientToken, digestAt, parentLink, pushRandomImage, readActions, tagsAt, writeActions, type ParentLink } from "../support/edge-e2e.js";
import { ManagementClient } from "../support/management-client.js";
import type { Credentials } from "../support/skopeo.js";
import { AuthorizedClient, sha256 } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const SLOW_TEST_MS = 420_000;
const CONVERGE_MS = 120_000;

/** What a test started, so afterEach ends it whatever happened. */
const edges: EdgeProcess[] = [];
const stacks: TestStack[] = [];
const folders: string[] = [];
const relays: ParentLink[] = [];

afterEach(async () => {
  for (const relay of relays.splice(0)) await relay.close();
  // Every agent ends before any folder goes: a restarted agent shares its folder with the one
  // before it, and removing the folder while the later one still writes fails with ENOTEMPTY.
  const ended = edges.splice(0);
  for (const edge of ended) await edge.kill().catch(() => {});
  for (const dataDir of new Set(ended.map((edge) => edge.dataDir))) await removeEdgeData(dataDir);
  for (const stack of stacks.splice(0)) await stack.destroy().catch(() => {});
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

async function edgeProcess(options: EdgeOptions): Promise<EdgeProcess> {
  const edge = await startEdge(options);
  edges.push(edge);
  return edge;
}

async function workFolder(prefix: string): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), `edge-resync-${prefix}-`));
  folders.push(folder);
  return folder;
}

/** Whether a registry serves the manifest by digest (a tag removed may leave it reachable so). */
async function servesDigest(baseUrl: string, creds: Credentials, repository: string, digest: string): Promise<boolean> {
  const response = await fetch(`${baseUrl}/v2/${repository}/manifests/${digest}`, { method: "HEAD", headers: { Authorization: basic(creds), Accept: ACCEPT } });
  if (response.status !== 200 && response.status !== 404) throw new Error(`HEAD ${repository}@${digest} answered ${response.status}`);
  return response.status === 200;
}

/** A cloud set up as an operator would: management with the admin key, a push token on `_repositories_admin`. */
interface Cloud {
  stack: TestStack;
  management: ManagementClient;
  admin: Credentials;
  pusher: AuthorizedClient;
}

async function startCloud(): Promise<Cloud> {
  const stack = await startTestStack({ anonymous: false });
  stacks.push(stack);
  const management = new ManagementClient(stack.registryUrl);
  const admin = { username: "resyncadmin", password: await management.tokenWithPassword("resyncadmin", { scopeMap: "_repositories_admin" }) };
  return { stack, management, admin, pusher: new AuthorizedClient(stack.registryUrl, basic(admin)) };
}

/**
 * Restores the cloud's data folder from `backup` as an operator restores a backup: the stack
 * stopped cleanly, the whole folder replaced, started again on the same folder and port.
 */
async function restoreCloud(cloud: Cloud, backup: string): Promise<void> {
  await stopCloud(cloud);
  await rm(cloud.stack.dataDir, { recursive: true, force: true });
  await cp(backup, cloud.stack.dataDir, { recursive: true });
  await startCloudAgain(cloud);
}

/** Stops the cloud cleanly and copies its whole data folder (a backup). */
async function backUpCloud(cloud: Cloud): Promise<string> {
  await stopCloud(cloud);
  const backup = join(await workFolder("cloud-backup"), "data");
  await cp(cloud.stack.dataDir, backup, { recursive: true });
  await startCloudAgain(cloud);
  return backup;
}

async function stopCloud(cloud: Cloud): Promise<void> {
  await cloud.stack.stop();
  stacks.splice(stacks.indexOf(cloud.stack), 1);
}

async function startCloudAgain(cloud: Cloud): Promise<void> {
  const port = Number(cloud.stack.registryHost.split(":")[1]);
  const stack = await startTestStack({ anonymous: false, dataDir: cloud.stack.dataDir, port });
  expect(stack.registryHost).toBe(cloud.stack.registryHost);
  stacks.push(stack);
  cloud.stack = stack;
}

/** Until GET /status says a sync cycle completed after `after` (an ISO time), the full sync done. */
function syncedAfter(edge: EdgeProcess, what: string, after = new Date().toISOString()): Promise<Record<string, any>> {
  return eventually(
    async () => {
      const status = await edge.status();
      return status.fullSyncDone && status.lastSyncTime && String(status.lastSyncTime) > after ? status : undefined;
    },
    CONVERGE_MS,
    `${what}: a completed sync cycle after ${after}`,
  );
}

describe("edges converge when their parent went back in time", () => {
  it(
    "cloud restored from an older copy of its data: both levels of edges serve what was pushed after it, what the cloud lost goes from the ReadOnly edge, and the ReadWrite edge pushes its own push up again",
    async () => {
      const cloud = await startCloud();
      const { management, admin, pusher } = cloud;
      const repository = "rollback/app";
      const writer = await clientToken(management, "rollbackwriter", writeActions(repository));
      const reader = await clientToken(management, "rollbackreader", readActions(repository));
      // edge1 reaches the cloud through a relay the test can cut: the restore and the pushes after it
      // happen before edge1 reads again, so its cursor is not simply beyond the head of the restored
      // log: the log has as many entries again, and only the entry's fingerprint tells the histories apart.
      const link = await parentLink(cloud.stack.registryHost, relays);
      const connection1 = await createConnectedRegistry(
        management,
        { name: "rollbacka", mode: "ReadWrite", repositories: [repository], clientTokens: [writer.username] },
        link.host,
      );
      const edge1 = await edgeProcess({ connectionString: connection1, advertise: true });
      await syncedAfter(edge1, "edge1", "");
      const connection2 = await createConnectedRegistry(management, { name: "rollbackb", mode: "ReadOnly", parent: "rollbacka", repositories: [repository], clientTokens: [reader.username] });
      const edge2 = await edgeProcess({ connectionString: connection2 });
      const base = await pushRandomImage(pusher, repository, "base");
      await eventually(async () => (await digestAt(edge2.url, reader, repository, "base")) === base.digest, CONVERGE_MS, "base at edge2");

      const backup = await backUpCloud(cloud);

      // After the backup: "a" pushed to the cloud, "mine" pushed to edge1 (it goes up to the cloud).
      const a = await pushRandomImage(cloud.pusher, repository, "a");
      const mine = await pushRandomImage(new AuthorizedClient(edge1.url, basic(writer)), repository, "mine");
      await eventually(async () => (await digestAt(cloud.stack.registryUrl, admin, repository, "mine")) === mine.digest, CONVERGE_MS, "mine in the cloud");
      for (const [edge, creds, name] of [[edge1, writer, "edge1"], [edge2, reader, "edge2"]] as const) {
        await eventually(async () => (await digestAt(edge.url, creds, repository, "a")) === a.digest, CONVERGE_MS, `a at ${name}`);
        await eventually(async () => (await digestAt(edge.url, creds, repository, "mine")) === mine.digest, CONVERGE_MS, `mine at ${name}`);
      }
      // edge1's cursor has passed both entries.
      await syncedAfter(edge1, "edge1 after a and mine");

      // The cloud goes back to the backup while edge1 cannot reach it; b and c are pushed to it.
      link.cut();
      await restoreCloud(cloud, backup);
      expect(await digestAt(cloud.stack.registryUrl, admin, repository, "a")).toBeUndefined();
      expect(await digestAt(cloud.stack.registryUrl, admin, repository, "mine")).toBeUndefined();
      const b = await pushRandomImage(cloud.pusher, repository, "b");
      const c = await pushRandomImage(cloud.pusher, repository, "c");
      link.restore();

      // Every edge serves b and c.
      for (const [edge, creds, name] of [[edge1, writer, "edge1"], [edge2, reader, "edge2"]] as const) {
        await eventually(async () => (await digestAt(edge.url, creds, repository, "b")) === b.digest, CONVERGE_MS, `b at ${name}`);
        await eventually(async () => (await digestAt(edge.url, creds, repository, "c")) === c.digest, CONVERGE_MS, `c at ${name}`);
      }
      // edge1 pushed its own image up again; the cloud lost "a", so the edges lost it too.
      await eventually(async () => (await digestAt(cloud.stack.registryUrl, admin, repository, "mine")) === mine.digest, CONVERGE_MS, "mine pushed up again to the cloud");
      await eventually(async () => (await tagsAt(edge2.url, reader, repository)).join() === "b,base,c,mine", CONVERGE_MS, "edge2 holds what edge1 holds");
      expect(await tagsAt(edge1.url, writer, repository)).toEqual(["b", "base", "c", "mine"]);
      expect(await tagsAt(cloud.stack.registryUrl, admin, repository)).toEqual(["b", "base", "c", "mine"]);
      // The walk removes tags first, then the manifests nothing names any more: wait for both.
      await eventually(async () => !(await servesDigest(edge2.url, reader, repository, a.digest)), CONVERGE_MS, "a gone by digest at the ReadOnly edge");
      await eventually(async () => !(await servesDigest(edge1.url, writer, repository, a.digest)), CONVERGE_MS, "a gone by digest at the ReadWrite edge (it came from the cloud)");

      // The feed goes on from the new history.
      const d = await pushRandomImage(cloud.pusher, repository, "d");
      await eventually(async () => (await digestAt(edge2.url, reader, repository, "d")) === d.digest, CONVERGE_MS, "d at edge2");
      const log = edge1.logs.find((entry) => entry.message === "the parent cannot continue the feed from this cursor: doing a full resync");
      expect(log, "edge1 says why it resynced").toMatchObject({ reason: "anchor" });
    },
    SLOW_TEST_MS,
  );

  it(
    "a parent edge whose data folder is replaced by an older copy: its child converges on what the parent serves",
    async () => {
      const cloud = await startCloud();
      const { management, admin, pusher } = cloud;
      const repository = "restored/app";
      const reader = await clientToken(management, "restoredreader", readActions(repository));
      const connection1 = await createConnectedRegistry(management, { name: "restoreda", mode: "ReadOnly", repositories: [repository], clientTokens: [reader.username] }, cloud.stack.registryHost);
      const edge1 = await edgeProcess({ connectionString: connection1, advertise: true });
      await syncedAfter(edge1, "edge1", "");
      const connection2 = await createConnectedRegistry(management, { name: "restoredb", mode: "ReadOnly", parent: "restoreda", repositories: [repository], clientTokens: [reader.username] });
      const edge2 = await edgeProcess({ connectionString: connection2 });
      const base = await pushRandomImage(pusher, repository, "base");
      await eventually(async () => (await digestAt(edge2.url, reader, repository, "base")) === base.digest, CONVERGE_MS, "base at edge2");

      // A copy of edge1's folder, taken while it is stopped.
      const port = Number(edge1.host.split(":")[1]);
      await edge1.stop();
      const backup = join(await workFolder("edge-backup"), "data");
      await cp(edge1.dataDir, backup, { recursive: true });
      let parent = await edgeProcess({ connectionString: connection1, dataDir: edge1.dataDir, port, advertise: true });

      // Changes edge1 logs after the copy and will not log again: images pushed, then deleted in the cloud.
      const gone: string[] = [];
      for (const tag of ["x1", "x2", "x3"]) {
        const image = await pushRandomImage(pusher, repository, tag);
        gone.push(image.digest);
        await eventually(async () => (await digestAt(edge2.url, reader, repository, tag)) === image.digest, CONVERGE_MS, `${tag} at edge2`);
      }
      for (const digest of gone) expect((await pusher.fetch(`/v2/${repository}/manifests/${digest}`, { method: "DELETE" })).status).toBe(202);
      const a = await pushRandomImage(pusher, repository, "a");
      await eventually(async () => (await tagsAt(edge2.url, reader, repository)).join() === "a,base", CONVERGE_MS, "edge2 with a, the x tags gone");

      // edge1's folder goes back to the copy; it starts again on the same port.
      await parent.stop();
      await rm(edge1.dataDir, { recursive: true, force: true });
      await cp(backup, edge1.dataDir, { recursive: true });
      parent = await edgeProcess({ connectionString: connection1, dataDir: edge1.dataDir, port, advertise: true });
      const b = await pushRandomImage(pusher, repository, "b");

      await eventually(async () => (await digestAt(parent.url, reader, repository, "b")) === b.digest, CONVERGE_MS, "b at the restored edge1");
      await eventually(async () => (await digestAt(edge2.url, reader, repository, "b")) === b.digest, CONVERGE_MS, "b at edge2");
      await eventually(async () => (await tagsAt(edge2.url, reader, repository)).join() === "a,b,base", CONVERGE_MS, "edge2 holds what edge1 holds");
      expect(await tagsAt(parent.url, reader, repository)).toEqual(["a", "b", "base"]);
      expect(await digestAt(edge2.url, reader, repository, "a")).toBe(a.digest);
      const c = await pushRandomImage(pusher, repository, "c");
      await eventually(async () => (await digestAt(edge2.url, reader, repository, "c")) === c.digest, CONVERGE_MS, "c at edge2: the feed goes on");
      expect(await digestAt(cloud.stack.registryUrl, admin, repository, "c")).toBe(c.digest);
      const log = edge2.logs.find((entry) => entry.message === "the parent cannot continue the feed from this cursor: doing a full resync");
      // Its log in the message: this failed twice in 14 runs under load (stop 28), converged but
      // without this line, and the logs of those runs were not kept.
      const edge2Log = edge2.logs.filter((entry) => entry.level !== "debug").map((entry) => `${entry.time} ${entry.message}${entry.trigger ? ` (${entry.trigger})` : ""}`);
      expect(log, `edge2 says why it resynced; its log:\n${edge2Log.join("\n")}`).toMatchObject({ reason: expect.stringMatching(/^(beyond-head|anchor)$/) });
    },
    SLOW_TEST_MS,
  );
});

describe("one broken object at the parent does not stall a full sync", () => {
  it(
    "syncs everything else, reads the feed, reports the broken image, and syncs it once it is whole again",
    async () => {
      const cloud = await startCloud();
      const { management, pusher, stack } = cloud;
      const broken = "broken/app";
      const healthy = "healthy/app";
      const images = new Map<string, { digest: string; blobs: string[]; bytes: Map<string, Buffer>; manifest: Buffer }>();
      for (const tag of ["t1", "t2", "bad", "t3"]) images.set(`${broken}:${tag}`, await pushRandomImage(pusher, broken, tag));
      for (let i = 1; i <= 5; i++) images.set(`${healthy}:h${i}`, await pushRandomImage(pusher, healthy, `h${i}`));
      // The bad image's layer loses its bytes in storage: the parent still lists it, and cannot serve it.
      const bad = images.get(`${broken}:bad`)!;
      const lostLayer = bad.blobs[1]!;
      const container = BlobServiceClient.fromConnectionString(stack.storageConnectionString).getContainerClient(stack.config.BLOB_CONTAINER);
      await container.getBlobClient(`blobs/sha256/${lostLayer.slice("sha256:".length)}`).delete();

      const reader = await clientToken(management, "brokenreader", readActions(broken, healthy));
      const connection = await createConnectedRegistry(management, { name: "brokenedge", mode: "ReadOnly", repositories: [broken, healthy], clientTokens: [reader.username] }, stack.registryHost);
      const edge = await edgeProcess({ connectionString: connection });

      const status = await syncedAfter(edge, "the edge with one broken image", "");
      expect(await tagsAt(edge.url, reader, healthy)).toEqual(["h1", "h2", "h3", "h4", "h5"]);
      expect(await tagsAt(edge.url, reader, broken)).toEqual(["t1", "t2", "t3"]);
      for (const [name, image] of images) {
        if (image === bad) continue;
        const [repository, tag] = name.split(":") as [string, string];
        expect(await digestAt(edge.url, reader, repository, tag), name).toBe(image.digest);
      }
      expect(status.failedItems).toEqual([expect.objectContaining({ repository: broken, tag: "bad", error: expect.stringMatching(/404/) })]);
      // The cloud hears of it: the connected registry is Unhealthy and its statusDetails name the image.
      const reported = await eventually(
        async () => {
          const record = await management.call("GET", "connectedRegistries/brokenedge");
          return record.body.statusDetails?.some((detail: { description: string }) => detail.description.includes(`${broken}:bad`)) ? record.body : undefined;
        },
        60_000,
        "the cloud's statusDetails name the broken image",
      );
      expect(reported.connectionState).toBe("Unhealthy");

      // The feed is read: a push after it arrives.
      const later = await pushRandomImage(pusher, healthy, "later");
      await eventually(async () => (await digestAt(edge.url, reader, healthy, "later")) === later.digest, CONVERGE_MS, "a later push at the edge");

      // The layer comes back (pushed again with the image): the edge syncs the image and forgets the failure.
      const client = new AuthorizedClient(stack.registryUrl, basic(cloud.admin));
      for (const [, bytes] of bad.bytes) await client.pushBlob(broken, bytes);
      expect((await client.putManifest(broken, "bad", bad.manifest)).status).toBe(201);
      await eventually(async () => (await digestAt(edge.url, reader, broken, "bad")) === bad.digest, CONVERGE_MS, "the repaired image at the edge");
      const layer = await fetch(`${edge.url}/v2/${broken}/blobs/${lostLayer}`, { headers: { Authorization: basic(reader) } });
      expect(sha256(Buffer.from(await layer.arrayBuffer()))).toBe(lostLayer);
      await eventually(async () => ((await edge.status()).failedItems ?? []).length === 0, 60_000, "the failure forgotten at the edge");
      await eventually(
        async () => {
          const record = await management.call("GET", "connectedRegistries/brokenedge");
          return record.body.connectionState === "Online" && (record.body.statusDetails ?? []).length === 0;
        },
        60_000,
        "the cloud sees the edge healthy again",
      );
    },
    SLOW_TEST_MS,
  );
});
