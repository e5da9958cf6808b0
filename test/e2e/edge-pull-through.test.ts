/**
 * Pull-through on a miss at the edge (issue 15, point 3), with real processes: the local
 * stack, edge agents from dist/ whose sync window is closed (they activate but never sync,
 * so everything pushed to the cloud is a miss at the edge), skopeo, podman and docker as
 * clients. The edge
 * reaches the cloud through a relay the test can cut and a recording proxy that counts
 * what the edge asked its parent for.
 */
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerEngine } from "../support/docker.js";
import { createConnectedRegistry, eventually, removeEdgeData, startEdge, type EdgeOptions, type EdgeProcess } from "../support/edge.js";
import { ACCEPT, basic, clientToken, parentLink, pushRandomImage, readActions, registryFetch, type ParentLink } from "../support/edge-e2e.js";
import { ManagementClient } from "../support/management-client.js";
import { writeMultiArchOciLayout } from "../support/oci-layout.js";
import { Podman } from "../support/podman.js";
import { RecordingProxy } from "../support/recording-proxy.js";
import { AuthorizedClient, sha256 } from "../support/registry-client.js";
import { Skopeo, type Credentials } from "../support/skopeo.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const APP = "pt/app";
const OTHER = "pt/other";
const MiB = 1024 * 1024;

let stack: TestStack;
let management: ManagementClient;
let pusher: AuthorizedClient;
let admin: Credentials;
let reader: Credentials;
let proxy: RecordingProxy;
let link: ParentLink;
let edgeA: EdgeProcess;
let skopeo: Skopeo;
let work: string;
const edges: EdgeProcess[] = [];
const links: ParentLink[] = [];

/** A daily one-hour window that closed an hour ago: the edge activates and then never syncs during the test. */
function closedWindow(): { schedule: string; syncWindow: string } {
  const opened = new Date(Date.now() - 2 * 3600_000);
  return { schedule: `${opened.getUTCMinutes()} ${opened.getUTCHours()} * * *`, syncWindow: "PT1H" };
}

async function activeEdge(connectionString: string, options: Omit<EdgeOptions, "connectionString"> = {}): Promise<EdgeProcess> {
  const edge = await startEdge({ connectionString, ...options });
  edges.push(edge);
  await eventually(async () => (await edge.status()).activation.status === "Active", 30_000, "activation").catch((error: Error) => {
    throw new Error(`${error.message}: ${JSON.stringify(edge.logs.slice(-4))}`);
  });
  return edge;
}

/** The GETs of `path` the parent answered (200, or 307 to storage for a blob), from the recording. */
const okGets = (exchanges: Array<{ method: string; path: string; status: number }>, path: string): number =>
  exchanges.filter((e) => e.method === "GET" && e.path === path && (e.status === 200 || e.status === 307)).length;

/** Every file skopeo wrote for the image (manifest, config, layers), by name. */
async function dirFiles(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const name of (await readdir(dir)).sort()) files.set(name, createHash("sha256").update(await readFile(join(dir, name))).digest("hex"));
  return files;
}

/** skopeo copies of one image from the cloud and from `host`, compared file by file. */
async function expectSameImage(host: string, creds: Credentials, repository: string, tag: string): Promise<void> {
  const fromCloud = await mkdtemp(join(work, "cloud-"));
  const fromEdge = await mkdtemp(join(work, "edge-"));
  await skopeo.copyFrom(`docker://${stack.registryHost}/${repository}:${tag}`, `dir:${fromCloud}`, admin);
  await skopeo.copyFrom(`docker://${host}/${repository}:${tag}`, `dir:${fromEdge}`, creds);
  const cloudFiles = await dirFiles(fromCloud);
  expect(cloudFiles.size).toBeGreaterThanOrEqual(4); // manifest.json, config, layers, version
  expect(await dirFiles(fromEdge)).toEqual(cloudFiles);
}

beforeAll(async () => {
  stack = await startTestStack({ anonymous: false });
  management = new ManagementClient(stack.registryUrl);
  admin = { username: "ptadmin", password: await management.tokenWithPassword("ptadmin", { scopeMap: "_repositories_admin" }) };
  pusher = new AuthorizedClient(stack.registryUrl, basic(admin));
  // The reader may read OTHER too: the edge's scope, not the token's, keeps it out.
  reader = await clientToken(management, "ptreader", readActions(APP, OTHER));
  proxy = await RecordingProxy.start(stack.registryUrl);
  link = await parentLink(proxy.host, links);
  const connection = await createConnectedRegistry(management, { name: "ptedgea", mode: "ReadOnly", repositories: [APP], clientTokens: [reader.username], ...closedWindow() }, link.host);
  edgeA = await activeEdge(connection);
  skopeo = await Skopeo.create();
  work = await mkdtemp(join(tmpdir(), "edge-pull-through-"));
}, 120_000);

afterAll(async () => {
  // Every agent stopped before any folder goes: a restarted agent shares its data folder with an earlier entry.
  const stopped = edges.splice(0);
  for (const edge of stopped) await edge.kill().catch(() => {});
  for (const dataDir of new Set(stopped.map((edge) => edge.dataDir))) await removeEdgeData(dataDir);
  for (const relay of links.splice(0)) await relay.close();
  await proxy?.stop();
  await skopeo?.dispose();
  await stack?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("pull-through at an edge outside its sync window", () => {
  it("skopeo pulls an image pushed after activation, byte-identical; the second pull is served from the edge's store", async () => {
    const image = await pushRandomImage(pusher, APP, "v1", [2 * MiB, 300_000]);
    expect((await registryFetch(edgeA.url, `/v2/${APP}/manifests/v1`, reader, { method: "HEAD" })).status).toBe(200);
    // Answered at once; stored a moment later (after the blobs a client asks for next).
    await eventually(async () => ((await (await registryFetch(edgeA.url, `/v2/${APP}/tags/list`, reader)).json()) as { tags?: string[] }).tags?.includes("v1"), 15_000, "v1 stored at the edge");
    const since = proxy.mark();
    await expectSameImage(edgeA.host, reader, APP, "v1");
    // Stored as synced content: the second pull did not ask the parent for anything.
    expect(since().filter((e) => e.path.startsWith("/v2/"))).toEqual([]);
    const status = await edgeA.status();
    expect(status.fullSyncDone).toBe(false);
    // Tagged at the edge like synced content (tags/list, digest by tag).
    const tags = await registryFetch(edgeA.url, `/v2/${APP}/tags/list`, reader);
    expect(((await tags.json()) as { tags: string[] }).tags).toContain("v1");
    const head = await registryFetch(edgeA.url, `/v2/${APP}/manifests/v1`, reader, { method: "HEAD", headers: { Accept: ACCEPT } });
    expect(head.headers.get("docker-content-digest")).toBe(image.digest);
  }, 120_000);

  it("podman pulls a multi-platform image (an index) through a miss, by tag, with the index's digest", async () => {
    const layout = await writeMultiArchOciLayout(join(work, "multi"), { tag: "v1", seed: "edge-pull-through/podman" });
    await skopeo.copy(`oci:${layout.dir}:v1`, `docker://${stack.registryHost}/${APP}:multi`, admin, ["--all"]);
    const podman = await Podman.create();
    try {
      const login = await podman.login(edgeA.host, reader.username, reader.password);
      expect(login.code, login.stderr).toBe(0);
      const pull = await podman.pull(`${edgeA.host}/${APP}:multi`);
      expect(pull.code, pull.stderr).toBe(0);
      expect((await podman.inspectImage(`${edgeA.host}/${APP}:multi`))?.Digest).toBe(layout.indexDigest);
    } finally {
      await podman.dispose();
    }
    // Stored with the platform manifests under it, as a sync stores an index.
    await eventually(async () => ((await (await registryFetch(edgeA.url, `/v2/${APP}/tags/list`, reader)).json()) as { tags?: string[] }).tags?.includes("multi"), 15_000, "multi stored at the edge");
    const since = proxy.mark();
    const fromEdge = await mkdtemp(join(work, "multi-edge-"));
    await skopeo.copyFrom(`docker://${edgeA.host}/${APP}:multi`, `oci:${fromEdge}:multi`, reader, ["--all"]);
    expect(since().filter((e) => e.path.startsWith("/v2/"))).toEqual([]);
  }, 120_000);

  it("docker pulls a multi-platform image through a miss, by tag, and gets the cloud's digest", async ({ skip }) => {
    const layout = await writeMultiArchOciLayout(join(work, "docker"), { tag: "v1", seed: "edge-pull-through/docker" });
    await skopeo.copy(`oci:${layout.dir}:v1`, `docker://${stack.registryHost}/${APP}:docker`, admin, ["--all"]);
    let docker: DockerEngine;
    try {
      docker = await DockerEngine.start();
    } catch (error) {
      return skip(`dockerd (Debian's docker.io) cannot start here: ${String(error).slice(0, 300)}`);
    }
    try {
      const login = await docker.login(edgeA.host, reader.username, reader.password);
      expect(login.code, login.stderr).toBe(0);
      const pull = await docker.run(["pull", `${edgeA.host}/${APP}:docker`]);
      expect(pull.code, pull.stderr).toBe(0);
      expect(pull.stdout).toContain(`Digest: ${layout.indexDigest}`);
      const inspected = await docker.run(["image", "inspect", "--format", "{{json .RepoDigests}}", `${edgeA.host}/${APP}:docker`]);
      expect(inspected.stdout).toContain(`${edgeA.host}/${APP}@${layout.indexDigest}`);
    } finally {
      await docker.stop();
    }
    const head = await registryFetch(edgeA.url, `/v2/${APP}/manifests/docker`, reader, { method: "HEAD", headers: { Accept: ACCEPT } });
    expect(head.headers.get("docker-content-digest")).toBe(layout.indexDigest);
  }, 180_000);

  it("two clients missing the same image at once cause one download of each blob from the parent", async () => {
    const image = await pushRandomImage(pusher, APP, "twice", [3 * MiB, 100_000]);
    const since = proxy.mark();
    const [a, b] = [await mkdtemp(join(work, "a-")), await mkdtemp(join(work, "b-"))];
    await Promise.all([
      skopeo.copyFrom(`docker://${edgeA.host}/${APP}:twice`, `dir:${a}`, reader),
      skopeo.copyFrom(`docker://${edgeA.host}/${APP}:twice`, `dir:${b}`, reader),
    ]);
    expect(await dirFiles(b)).toEqual(await dirFiles(a));
    // Counted once the image is stored: storing it took nothing more from the parent.
    await eventually(async () => ((await (await registryFetch(edgeA.url, `/v2/${APP}/tags/list`, reader)).json()) as { tags?: string[] }).tags?.includes("twice"), 15_000, "twice stored at the edge");
    const exchanges = since();
    // A tag's answer is never reused for a later client (a parent may have moved or deleted it):
    // clients whose misses overlap share one GET, one that comes a moment later asks again. The
    // manifest is a few hundred bytes; the blobs are what must not be fetched twice.
    expect(okGets(exchanges, `/v2/${APP}/manifests/twice`), JSON.stringify(exchanges)).toBeLessThanOrEqual(2);
    for (const blob of image.blobs) expect(okGets(exchanges, `/v2/${APP}/blobs/${blob}`), blob).toBe(1);
  }, 120_000);

  it("two clients missing the same blob at once cause one download, and both get it whole", async () => {
    const image = await pushRandomImage(pusher, APP, "blobonly", [4 * MiB]);
    const layer = image.blobs[1]!;
    const since = proxy.mark();
    const bodies = await Promise.all([0, 1].map(async () => Buffer.from(await (await registryFetch(edgeA.url, `/v2/${APP}/blobs/${layer}`, reader)).arrayBuffer())));
    for (const body of bodies) expect(sha256(body)).toBe(layer);
    expect(okGets(since(), `/v2/${APP}/blobs/${layer}`)).toBe(1);
  }, 60_000);

  it("keeps a repository outside the edge's scope refused, without asking the parent", async () => {
    await pushRandomImage(pusher, OTHER, "v1");
    const since = proxy.mark();
    const response = await registryFetch(edgeA.url, `/v2/${OTHER}/manifests/v1`, reader, { headers: { Accept: ACCEPT } });
    expect(response.status).toBe(404);
    expect(since().filter((e) => e.path.startsWith(`/v2/${OTHER}/`))).toEqual([]);
    // A tag the parent does not have either stays unknown.
    const unknown = await registryFetch(edgeA.url, `/v2/${APP}/manifests/never-pushed`, reader, { headers: { Accept: ACCEPT } });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe("MANIFEST_UNKNOWN");
  }, 60_000);

  it("a client that goes away mid-blob leaves nothing partial visible, and a later pull gets it whole", async () => {
    const image = await pushRandomImage(pusher, APP, "big", [40 * MiB]);
    const layer = image.blobs[1]!;
    const url = new URL(`${edgeA.url}/v2/${APP}/blobs/${layer}`);
    // The client asks and disconnects before any byte (the edge is still fetching from the parent).
    await new Promise<void>((resolve) => {
      const req = httpRequest(url, { headers: { Authorization: basic(reader) } });
      req.on("error", () => resolve());
      req.on("response", (res) => {
        res.destroy();
        resolve();
      });
      req.end();
      setTimeout(() => req.destroy(), 30);
    });
    // Whatever a client sees meanwhile is the whole blob or nothing: never a fragment.
    const head = await registryFetch(edgeA.url, `/v2/${APP}/blobs/${layer}`, reader, { method: "HEAD" });
    if (head.status === 200) expect(head.headers.get("content-length")).toBe(String(40 * MiB));
    else expect(head.status).toBe(404);
    const body = Buffer.from(await (await registryFetch(edgeA.url, `/v2/${APP}/blobs/${layer}`, reader)).arrayBuffer());
    expect(body.length).toBe(40 * MiB);
    expect(sha256(body)).toBe(layer);
    await expectSameImage(edgeA.host, reader, APP, "big");
    // No download left half-done in the data folder.
    await eventually(async () => (await readdir(join(edgeA.dataDir, "partial")).catch(() => [])).length === 0, 10_000, "no partial download left");
  }, 120_000);

  it("works through a chain: a child edge's miss asks its parent edge, which misses and asks the cloud", async () => {
    // The middle edge syncs until its child is active (it learns the child's sync token so), then its window closes.
    const childReader = await clientToken(management, "ptchildreader", readActions(APP));
    const middle = await createConnectedRegistry(management, { name: "ptedgec", mode: "ReadOnly", repositories: [APP], clientTokens: [reader.username] }, proxy.host);
    const edgeC = await activeEdge(middle, { advertise: true });
    const child = await createConnectedRegistry(management, { name: "ptedged", mode: "ReadOnly", parent: "ptedgec", repositories: [APP], clientTokens: [childReader.username], ...closedWindow() });
    const edgeD = await activeEdge(child);
    expect((await management.call("PATCH", "connectedRegistries/ptedgec", closedWindow())).status).toBe(200);
    await eventually(async () => edgeC.logs.some((entry) => entry.message === "outside the sync window: not contacting the parent"), 30_000, "the middle edge's window closed");
    const image = await pushRandomImage(pusher, APP, "chain", [1 * MiB, 50_000]);
    const since = proxy.mark();
    await expectSameImage(edgeD.host, childReader, APP, "chain");
    // The middle edge stored it on the way (the child's miss was its miss) and asked the cloud once for each part.
    const exchanges = since();
    for (const blob of image.blobs) expect(okGets(exchanges, `/v2/${APP}/blobs/${blob}`), blob).toBe(1);
    const atMiddle = await registryFetch(edgeC.url, `/v2/${APP}/manifests/chain`, reader, { method: "HEAD", headers: { Accept: ACCEPT } });
    expect(atMiddle.headers.get("docker-content-digest")).toBe(image.digest);
  }, 180_000);

  it("offline (the link to the parent cut), answers MANIFEST_UNKNOWN and BLOB_UNKNOWN within seconds", async () => {
    const image = await pushRandomImage(pusher, APP, "offline", [100_000]);
    link.cut();
    try {
      let started = Date.now();
      const manifest = await registryFetch(edgeA.url, `/v2/${APP}/manifests/offline`, reader, { headers: { Accept: ACCEPT } });
      expect(manifest.status).toBe(404);
      expect(((await manifest.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe("MANIFEST_UNKNOWN");
      expect(Date.now() - started).toBeLessThan(5000);
      // Past the pause after a failure (misses are then answered at once), the blob path on its own.
      await new Promise((resolve) => setTimeout(resolve, 3500));
      started = Date.now();
      const blob = await registryFetch(edgeA.url, `/v2/${APP}/blobs/${image.blobs[1]!}`, reader);
      expect(blob.status).toBe(404);
      expect(((await blob.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe("BLOB_UNKNOWN");
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      link.restore();
    }
    // Back online (after the pause that spares the parent a burst), the same pull works: nothing was left behind that blocks it.
    await eventually(async () => (await registryFetch(edgeA.url, `/v2/${APP}/manifests/offline`, reader, { method: "HEAD", headers: { Accept: ACCEPT } })).status === 200, 15_000, "the image pulled through once online");
    await expectSameImage(edgeA.host, reader, APP, "offline");
  }, 120_000);
});

describe("the sync after a pull-through", () => {
  it("downloads nothing the pull-through already stored", async () => {
    const AGAIN = "pt/again";
    const againReader = await clientToken(management, "ptagainreader", readActions(AGAIN));
    const connection = await createConnectedRegistry(management, { name: "ptedgee", mode: "ReadOnly", repositories: [AGAIN], clientTokens: [againReader.username], ...closedWindow() }, proxy.host);
    const first = await activeEdge(connection);
    const image = await pushRandomImage(pusher, AGAIN, "v1", [2 * MiB, 200_000]);
    await expectSameImage(first.host, againReader, AGAIN, "v1");
    await eventually(async () => ((await (await registryFetch(first.url, `/v2/${AGAIN}/tags/list`, againReader)).json()) as { tags?: string[] }).tags?.includes("v1"), 15_000, "v1 stored at the edge");
    expect((await first.status()).fullSyncDone).toBe(false);
    // Open the window; an agent activates (and reads its configuration) when it starts.
    await first.stop();
    expect((await management.call("PATCH", "connectedRegistries/ptedgee", { schedule: "* * * * *", syncWindow: null })).status).toBe(200);
    const since = proxy.mark();
    const again = await activeEdge(connection, { dataDir: first.dataDir });
    await eventually(async () => (await again.status()).fullSyncDone, 30_000, "the full sync done");
    const exchanges = since();
    // It did sync with the parent, and took none of the image's blobs again.
    expect(exchanges.some((e) => e.path.startsWith(`/v2/${AGAIN}/`)), JSON.stringify(exchanges)).toBe(true);
    for (const blob of image.blobs) expect(okGets(exchanges, `/v2/${AGAIN}/blobs/${blob}`), blob).toBe(0);
    await expectSameImage(again.host, againReader, AGAIN, "v1");
  }, 120_000);
});
