/**
 * The edge agent's parent client and content fetcher (edge-agent/src/sync/), against the real
 * local cloud stack as the parent (auth on, blob GETs answered with a 307 to Azurite), fetching
 * into a real FsBlobStore with a connected registry's sync token, as the agent does. A few
 * behaviours the real parent cannot be made to show (a body cut mid-way, a Range ignored, a
 * wrong manifest) are checked against a small scripted server.
 */
import { randomBytes } from "node:crypto";
import diagnostics from "node:diagnostics_channel";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type ClientRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConnectionString } from "../../shared/domain/connected-registry/index.js";
import { ContentFetcher, DigestMismatchError, manifestsBottomUp, referencedContent } from "../../dist/edge-agent/src/sync/content-fetcher.js";
import { RegistryHttpClient, RemoteError, RemoteUnreachableError } from "../../dist/shared/remote/http-client.js";
import { FsBlobStore } from "../../dist/edge-agent/src/store/fs-blob-store.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, OCI_INDEX, OCI_MANIFEST, basicAuthorization, sha256 } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const ACCEPTED = [OCI_MANIFEST, OCI_INDEX, "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"];
const LAYER_BYTES = 300 * 1024;

interface PushedPlatform {
  manifest: Buffer;
  digest: string;
  config: Buffer;
  layer: Buffer;
}

const hexOf = (digest: string): string => digest.slice("sha256:".length);

describe("edge content fetcher (against the cloud stack)", () => {
  let stack: TestStack;
  let pusher: AuthorizedClient;
  let sync: { username: string; password: string };
  let root: string;
  let platforms: PushedPlatform[];
  let index: Buffer;
  let indexDigest: string;

  const clientFor = (password = sync.password): RegistryHttpClient =>
    new RegistryHttpClient({ protocol: "http", endpoint: stack.registryHost, username: sync.username, password, userAgent: "edge-fetcher-test" });

  async function newStore(): Promise<{ store: InstanceType<typeof FsBlobStore>; dir: string }> {
    const dir = await mkdtemp(join(root, "store-"));
    return { store: new FsBlobStore(dir), dir };
  }

  function fetcherFor(store: InstanceType<typeof FsBlobStore>, counter?: { bytes: number }, client = clientFor()): ContentFetcher {
    return new ContentFetcher(client, store, {
      concurrency: 3,
      acceptedMediaTypes: ACCEPTED,
      onBytes: (n) => {
        if (counter) counter.bytes += n;
      },
      backoffMs: () => 10,
    });
  }

  async function pushPlatform(repository: string, architecture: string, layer = randomBytes(LAYER_BYTES)): Promise<PushedPlatform> {
    const config = Buffer.from(JSON.stringify({ architecture, os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") }));
    await pusher.pushBlob(repository, config);
    await pusher.pushBlob(repository, layer);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256(layer), size: layer.length }],
      }),
    );
    const digest = sha256(manifest);
    const put = await pusher.putManifest(repository, digest, manifest);
    if (put.status !== 201) throw new Error(`manifest push answered ${put.status}: ${await put.text()}`);
    return { manifest, digest, config, layer };
  }

  async function pushIndex(repository: string, tag: string, children: PushedPlatform[]): Promise<{ bytes: Buffer; digest: string }> {
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: children.map((child, i) => ({
          mediaType: OCI_MANIFEST,
          digest: child.digest,
          size: child.manifest.length,
          platform: { architecture: ["amd64", "arm64"][i], os: "linux" },
        })),
      }),
    );
    const put = await pusher.putManifest(repository, tag, bytes, OCI_INDEX);
    if (put.status !== 201) throw new Error(`index push answered ${put.status}: ${await put.text()}`);
    return { bytes, digest: sha256(bytes) };
  }

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    root = await mkdtemp(join(tmpdir(), "edge-fetcher-"));
    const admin = new ManagementClient(stack.registryUrl);
    const pusherPassword = await admin.tokenWithPassword("pusher", { scopeMap: "_repositories_admin" });
    pusher = new AuthorizedClient(stack.registryUrl, basicAuthorization("pusher", pusherPassword));

    // The edge's own sync token, read out of the connection string as the agent does.
    const created = await admin.call("POST", "connectedRegistries", { name: "fetchedge1", mode: "ReadOnly", repositories: ["fetch/multi", "fetch/copy", "fetch/missing"] });
    expect(created.status).toBe(201);
    const settings = await admin.call("POST", "connectedRegistries/fetchedge1/settings", { parentProtocol: "http", generatePassword: 1 });
    const parsed = parseConnectionString(settings.body.connectionString);
    if (!parsed.ok) throw new Error(parsed.message);
    sync = { username: parsed.settings.syncTokenName, password: parsed.settings.syncTokenPassword! };

    platforms = [await pushPlatform("fetch/multi", "amd64"), await pushPlatform("fetch/multi", "arm64")];
    ({ bytes: index, digest: indexDigest } = await pushIndex("fetch/multi", "v1", platforms));
    // The same content in a second repository (the layers are pushed again: same digests).
    const copies = [];
    for (const p of platforms) {
      for (const blob of [p.config, p.layer]) await pusher.pushBlob("fetch/copy", blob);
      await pusher.putManifest("fetch/copy", p.digest, p.manifest);
      copies.push(p);
    }
    await pushIndex("fetch/copy", "v1", copies);
  });
  afterAll(async () => {
    await stack?.destroy();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("lists what a manifest needs, with sizes and media types", () => {
    const image = referencedContent(platforms[0]!.manifest, OCI_MANIFEST);
    expect(image.manifests).toEqual([]);
    expect(image.blobs).toEqual([
      { digest: sha256(platforms[0]!.config), size: platforms[0]!.config.length },
      { digest: sha256(platforms[0]!.layer), size: LAYER_BYTES },
    ]);
    const list = referencedContent(index, OCI_INDEX);
    expect(list.blobs).toEqual([]);
    // With each child's platform: the edge's platform filter reads it (sync/filters.ts).
    expect(list.manifests).toEqual(platforms.map((p, i) => ({ digest: p.digest, mediaType: OCI_MANIFEST, platform: { architecture: ["amd64", "arm64"][i], os: "linux" } })));
  });

  it("fetches a multi-arch index whole: children before the parent, every blob present and verified", async () => {
    const { store } = await newStore();
    const counter = { bytes: 0 };
    // Over plain HTTP the blobs are read into the store's buffers (shared/remote/plain-http.ts),
    // not through node:http: only the manifest GETs show on its diagnostics channel.
    const viaNodeHttp: string[] = [];
    const onStart = (message: unknown): void => {
      const { request } = message as { request: ClientRequest };
      if (request.getHeader("user-agent") === "edge-fetcher-test") viaNodeHttp.push(request.path);
    };
    diagnostics.subscribe("http.client.request.start", onStart);
    let tree;
    try {
      tree = await fetcherFor(store, counter).fetchImageTree("fetch/multi", "v1");
    } finally {
      diagnostics.unsubscribe("http.client.request.start", onStart);
    }
    expect(viaNodeHttp.some((path) => path.includes("/manifests/"))).toBe(true);
    expect(viaNodeHttp.filter((path) => !path.includes("/manifests/"))).toEqual([]);
    expect(tree).toBeDefined();
    expect(tree!.manifest).toMatchObject({ digest: indexDigest, mediaType: OCI_INDEX });
    expect(tree!.manifest.content.equals(index)).toBe(true);
    expect(tree!.children.map((child) => child.manifest.digest)).toEqual(platforms.map((p) => p.digest));
    expect(manifestsBottomUp(tree!).map((m) => m.digest)).toEqual([...platforms.map((p) => p.digest), indexDigest]);

    let expectedBytes = 0;
    for (const p of platforms) {
      for (const blob of [p.config, p.layer]) {
        expect(await store.stat(sha256(blob))).toBe(blob.length);
        const stored = Buffer.concat(await collect(await store.read(sha256(blob))));
        expect(sha256(stored)).toBe(sha256(blob));
        expectedBytes += blob.length;
      }
    }
    expect(counter.bytes).toBe(expectedBytes);
  });

  it("follows the cloud's 307 to storage (Azurite) without sending Authorization there", async () => {
    const client = clientFor();
    const digest = sha256(platforms[0]!.layer);
    // Azurite accepts a SAS request even with a Basic header, so watch what actually went out.
    const sent: Array<{ host: string; authorization: boolean }> = [];
    const onStart = (message: unknown): void => {
      const { request } = message as { request: ClientRequest };
      // The stack runs in this process too (its Cosmos and storage calls): keep only ours.
      if (request.getHeader("user-agent") !== "edge-fetcher-test") return;
      sent.push({ host: String(request.getHeader("host")), authorization: request.hasHeader("authorization") });
    };
    diagnostics.subscribe("http.client.request.start", onStart);
    let response;
    try {
      response = await client.request("GET", `/v2/fetch/multi/blobs/${digest}`);
    } finally {
      diagnostics.unsubscribe("http.client.request.start", onStart);
    }
    expect(response.status).toBe(200);
    expect(response.redirects).toBe(1);
    expect(response.origin).not.toBe(client.origin); // Azurite answered, not the registry
    expect(sha256(await response.bytes())).toBe(digest);
    expect(sent).toEqual([
      { host: stack.registryHost, authorization: true },
      { host: new URL(response.origin).host, authorization: false },
    ]);
    client.close();
  });

  it("downloads nothing for a second repository holding the same content, and one download for concurrent asks", async () => {
    const { store } = await newStore();
    const first = { bytes: 0 };
    await fetcherFor(store, first).fetchImageTree("fetch/multi", "v1");
    const second = { bytes: 0 };
    const tree = await fetcherFor(store, second).fetchImageTree("fetch/copy", "v1");
    expect(tree!.children).toHaveLength(2);
    expect(second.bytes).toBe(0);

    // Concurrent calls for one digest, in one fetcher, share one download.
    const { store: fresh } = await newStore();
    const counter = { bytes: 0 };
    const fetcher = fetcherFor(fresh, counter);
    const digest = sha256(platforms[1]!.layer);
    await Promise.all([fetcher.ensureBlob("fetch/multi", digest, LAYER_BYTES), fetcher.ensureBlob("fetch/copy", digest), fetcher.ensureBlob("fetch/multi", digest)]);
    expect(counter.bytes).toBe(LAYER_BYTES);
    expect(await fresh.stat(digest)).toBe(LAYER_BYTES);
  });

  it("resumes from a partial download: only the rest is fetched, and the result verifies", async () => {
    const { store, dir } = await newStore();
    const layer = platforms[0]!.layer;
    const digest = sha256(layer);
    const half = Math.floor(layer.length / 2);
    await mkdir(join(dir, "partial"), { recursive: true });
    await writeFile(join(dir, "partial", hexOf(digest)), layer.subarray(0, half));
    expect(await store.partialSize(digest)).toBe(half);

    const counter = { bytes: 0 };
    await fetcherFor(store, counter).ensureBlob("fetch/multi", digest, layer.length);
    expect(counter.bytes).toBe(layer.length - half);
    expect(await store.stat(digest)).toBe(layer.length);
    expect(await store.partialSize(digest)).toBe(0);
    expect(sha256(await readFile(join(dir, "blobs", "sha256", hexOf(digest))))).toBe(digest);
  });

  it("re-fetches from zero when a tampered partial fails verification", async () => {
    const { store, dir } = await newStore();
    const layer = platforms[1]!.layer;
    const digest = sha256(layer);
    const half = Math.floor(layer.length / 2);
    const tampered = Buffer.from(layer.subarray(0, half));
    tampered[10] = tampered[10]! ^ 0xff;
    await mkdir(join(dir, "partial"), { recursive: true });
    await writeFile(join(dir, "partial", hexOf(digest)), tampered);

    const counter = { bytes: 0 };
    const messages: string[] = [];
    const fetcher = new ContentFetcher(clientFor(), store, { concurrency: 2, acceptedMediaTypes: ACCEPTED, onBytes: (n) => (counter.bytes += n), log: (m) => messages.push(m), backoffMs: () => 10 });
    await fetcher.ensureBlob("fetch/multi", digest, layer.length);
    expect(counter.bytes).toBe(layer.length - half + layer.length);
    expect(messages.some((m) => m.includes("do not match"))).toBe(true);
    expect(sha256(await readFile(join(dir, "blobs", "sha256", hexOf(digest))))).toBe(digest);
  });

  it("answers undefined for a manifest the parent does not have, and verifies a manifest fetched by digest", async () => {
    const { store } = await newStore();
    const fetcher = fetcherFor(store);
    expect(await fetcher.fetchManifest("fetch/multi", "nope")).toBeUndefined();
    expect(await fetcher.fetchManifest("fetch/missing", "latest")).toBeUndefined();
    const byDigest = await fetcher.fetchManifest("fetch/multi", platforms[0]!.digest);
    expect(byDigest).toMatchObject({ digest: platforms[0]!.digest, mediaType: OCI_MANIFEST });
  });

  it("gives a RemoteError 401 for a wrong password, without the password in the message", async () => {
    const { store } = await newStore();
    const wrong = "wrong-password-not-a-secret";
    const error = await fetcherFor(store, undefined, clientFor(wrong))
      .fetchManifest("fetch/multi", "v1")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as RemoteError).status).toBe(401);
    expect((error as Error).message).not.toContain(wrong);
    expect((error as Error).message).not.toContain(sync.password);

    // The sync endpoints say the same through json().
    const json = await clientFor(wrong)
      .json("GET", "/sync/v1/connectedRegistries/fetchedge1/configuration?instance=x")
      .catch((e: unknown) => e);
    expect(json).toBeInstanceOf(RemoteError);
    expect((json as RemoteError).status).toBe(401);
  });

  it("gives RemoteUnreachableError for a closed port, after its retries", async () => {
    const port = await closedPort();
    const client = new RegistryHttpClient({ protocol: "http", endpoint: `127.0.0.1:${port}`, username: "u", password: "p", userAgent: "t" });
    await expect(client.request("GET", "/v2/")).rejects.toBeInstanceOf(RemoteUnreachableError);
    const { store } = await newStore();
    const messages: string[] = [];
    const fetcher = new ContentFetcher(client, store, { concurrency: 1, acceptedMediaTypes: ACCEPTED, log: (m) => messages.push(m), backoffMs: () => 1 });
    const error = await fetcher.ensureBlob("fetch/multi", sha256(platforms[0]!.layer)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteUnreachableError);
    expect((error as RemoteUnreachableError).code).toBe("ECONNREFUSED");
    expect(messages.filter((m) => m.includes("retry"))).toHaveLength(4);
  });
});

/** Behaviours the real parent cannot be made to show, against a scripted HTTP server. */
describe("parent client and fetcher (against a scripted server)", () => {
  const blob = randomBytes(64 * 1024);
  const blobDigest = sha256(blob);
  /** Always served whole (the slot test). */
  const other = randomBytes(64 * 1024);
  const otherDigest = sha256(other);
  /** Served whole, once `releaseHeld` is called (it holds the one download slot of the order test). */
  const held = randomBytes(1024);
  const heldDigest = sha256(held);
  let releaseHeld: () => void = () => {};
  let heldAsked = false;
  /** Served whole; the parent notes the order it is asked for them in (the order test). */
  const queued = Array.from({ length: 4 }, () => randomBytes(1024));
  const queuedDigests = queued.map((content) => sha256(content));
  const queuedAsked: string[] = [];
  let root: string;
  let parent: Server;
  let storage: Server;
  let parentPort: number;
  let storagePort: number;
  /** What the handler does next for a blob GET on the parent. */
  let blobMode: "cut-once" | "ignore-range" | "redirect" = "cut-once";
  let cutDone = false;
  const storageSaw: IncomingHttpHeaders[] = [];
  const parentSaw: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "edge-fetcher-scripted-"));
    storage = createServer((req, res) => {
      storageSaw.push(req.headers);
      res.writeHead(200, { "Content-Length": blob.length }).end(blob);
    });
    parent = createServer((req, res) => {
      parentSaw.push(req.headers);
      if (req.url === `/v2/r/blobs/${heldDigest}`) {
        heldAsked = true;
        new Promise<void>((resolve) => (releaseHeld = resolve)).then(() => res.writeHead(200, { "Content-Length": held.length }).end(held));
        return;
      }
      const queuedAt = queuedDigests.findIndex((digest) => req.url === `/v2/r/blobs/${digest}`);
      if (queuedAt >= 0) {
        queuedAsked.push(queuedDigests[queuedAt]!);
        res.writeHead(200, { "Content-Length": queued[queuedAt]!.length }).end(queued[queuedAt]);
        return;
      }
      if (req.url === `/v2/r/blobs/${otherDigest}`) {
        res.writeHead(200, { "Content-Length": other.length }).end(other);
        return;
      }
      if (req.url === `/v2/r/blobs/${blobDigest}`) {
        if (blobMode === "redirect") {
          res.writeHead(307, { Location: `http://127.0.0.1:${storagePort}/container/blob?sig=secret-sas` }).end();
        } else if (blobMode === "cut-once" && !cutDone) {
          // Half the body, then the connection dies.
          cutDone = true;
          res.writeHead(200, { "Content-Length": blob.length });
          res.write(blob.subarray(0, blob.length / 2), () => setTimeout(() => res.socket?.destroy(), 20));
        } else {
          const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
          if (range && blobMode !== "ignore-range") {
            const start = Number(range[1]);
            res.writeHead(206, { "Content-Length": blob.length - start, "Content-Range": `bytes ${start}-${blob.length - 1}/${blob.length}` }).end(blob.subarray(start));
          } else {
            res.writeHead(200, { "Content-Length": blob.length }).end(blob);
          }
        }
        return;
      }
      if (req.url?.startsWith("/v2/r/manifests/")) {
        // Serves a body that does not match the digest asked for (or announced).
        const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }));
        res.writeHead(200, { "Content-Type": OCI_INDEX, "Docker-Content-Digest": sha256("something else") }).end(body);
        return;
      }
      res.writeHead(503, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "down", detail: { why: "test" } }] }));
    });
    parentPort = await listen(parent);
    storagePort = await listen(storage);
  });
  afterAll(async () => {
    await new Promise((resolve) => parent?.close(resolve));
    await new Promise((resolve) => storage?.close(resolve));
    if (root) await rm(root, { recursive: true, force: true });
  });

  const client = (): RegistryHttpClient => new RegistryHttpClient({ protocol: "http", endpoint: `127.0.0.1:${parentPort}`, username: "edge", password: "pw-not-a-secret", userAgent: "t" });

  it("sends Basic auth to the parent and nothing to the redirect target's origin", async () => {
    blobMode = "redirect";
    parentSaw.length = 0;
    storageSaw.length = 0;
    const response = await client().request("GET", `/v2/r/blobs/${blobDigest}`, { headers: { Range: "bytes=0-" } });
    expect(response.status).toBe(200);
    expect(response.origin).toBe(`http://127.0.0.1:${storagePort}`);
    expect(sha256(await response.bytes())).toBe(blobDigest);
    expect(parentSaw[0]!.authorization).toBe(basicAuthorization("edge", "pw-not-a-secret"));
    expect(storageSaw[0]!.authorization).toBeUndefined();
    expect(storageSaw[0]!.range).toBe("bytes=0-"); // other headers travel on
  });

  it("resumes after the connection dies mid-body, fetching only the rest", async () => {
    blobMode = "cut-once";
    cutDone = false;
    const store = new FsBlobStore(await mkdtemp(join(root, "store-")));
    const counter = { bytes: 0 };
    const fetcher = new ContentFetcher(client(), store, { concurrency: 1, acceptedMediaTypes: ACCEPTED, onBytes: (n) => (counter.bytes += n), backoffMs: () => 10 });
    await fetcher.ensureBlob("r", blobDigest, blob.length);
    expect(await store.stat(blobDigest)).toBe(blob.length);
    expect(counter.bytes).toBe(blob.length); // half, then the other half
  });

  it("starts over when the server ignores the Range", async () => {
    blobMode = "ignore-range";
    const dir = await mkdtemp(join(root, "store-"));
    const store = new FsBlobStore(dir);
    await mkdir(join(dir, "partial"), { recursive: true });
    await writeFile(join(dir, "partial", hexOf(blobDigest)), blob.subarray(0, 1000));
    const counter = { bytes: 0 };
    const fetcher = new ContentFetcher(client(), store, { concurrency: 1, acceptedMediaTypes: ACCEPTED, onBytes: (n) => (counter.bytes += n), backoffMs: () => 10 });
    await fetcher.ensureBlob("r", blobDigest);
    expect(counter.bytes).toBe(blob.length);
    expect(await store.stat(blobDigest)).toBe(blob.length);
  });

  it("hands its download slot on before the store completes a blob (fsync, rename)", async () => {
    blobMode = "ignore-range";
    // The first blob's completion is held until the second blob is in: with one slot, that
    // finishes only if the slot was freed when the first blob's bytes were in.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    class SlowCompletion extends FsBlobStore {
      override async completePartial(digest: string): Promise<void> {
        if (digest === blobDigest) await held;
        return super.completePartial(digest);
      }
    }
    const store = new SlowCompletion(await mkdtemp(join(root, "store-")));
    const fetcher = new ContentFetcher(client(), store, { concurrency: 1, acceptedMediaTypes: ACCEPTED, backoffMs: () => 10 });
    const first = fetcher.ensureBlob("r", blobDigest, blob.length);
    const second = fetcher.ensureBlob("r", otherDigest, other.length);
    const outcome = await Promise.race([second.then(() => "second done"), new Promise((resolve) => setTimeout(() => resolve("second still waiting"), 5_000))]);
    expect(await store.stat(blobDigest)).toBeUndefined(); // not completed yet: not visible
    release();
    await first;
    await second;
    expect(outcome).toBe("second done");
    expect(await store.stat(blobDigest)).toBe(blob.length);
    expect(await store.stat(otherDigest)).toBe(other.length);
  });

  it("gives download slots in the order the blobs were asked for, whatever order the store's checks end in", async () => {
    // An image's blobs are asked together and must download together (images then finish one
    // after another). Before its slot, each ask waits for the store (is the blob here?): here
    // those answers come back in the reverse order of the asks.
    const delays = new Map(queuedDigests.map((digest, i) => [digest, (queuedDigests.length - i) * 40]));
    class ReverseChecks extends FsBlobStore {
      override async stat(digest: string): Promise<number | undefined> {
        await new Promise((resolve) => setTimeout(resolve, delays.get(digest) ?? 0));
        return super.stat(digest);
      }
    }
    const store = new ReverseChecks(await mkdtemp(join(root, "store-")));
    const fetcher = new ContentFetcher(client(), store, { concurrency: 1, acceptedMediaTypes: ACCEPTED, backoffMs: () => 10 });
    queuedAsked.length = 0;
    // The one slot is taken (its answer held) before the four are asked for, so all four wait for it.
    const holder = fetcher.ensureBlob("r", heldDigest, held.length);
    for (let waited = 0; !heldAsked; waited += 10) {
      if (waited > 5_000) throw new Error("the held blob was never asked for");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const downloads = queuedDigests.map((digest, i) => fetcher.ensureBlob("r", digest, queued[i]!.length));
    // Every ask is past the store's check (the slowest takes 160 ms) and waiting for the slot.
    await new Promise((resolve) => setTimeout(resolve, 400));
    releaseHeld();
    await Promise.all([holder, ...downloads]);
    expect(queuedAsked).toEqual(queuedDigests);
    for (const [i, digest] of queuedDigests.entries()) expect(await store.stat(digest)).toBe(queued[i]!.length);
  });

  it("rejects a manifest whose bytes do not match its digest or the announced one", async () => {
    const store = new FsBlobStore(await mkdtemp(join(root, "store-")));
    const fetcher = new ContentFetcher(client(), store, { concurrency: 1, acceptedMediaTypes: ACCEPTED });
    await expect(fetcher.fetchManifest("r", sha256("another"))).rejects.toBeInstanceOf(DigestMismatchError);
    await expect(fetcher.fetchManifest("r", "latest")).rejects.toBeInstanceOf(DigestMismatchError);
  });

  it("parses the parent's error body and retries 5xx before giving up", async () => {
    const error = await client()
      .json("GET", "/sync/v1/connectedRegistries/x/configuration")
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 503, code: "UNAVAILABLE", detail: { why: "test" } });
    const store = new FsBlobStore(await mkdtemp(join(root, "store-")));
    const messages: string[] = [];
    const fetcher = new ContentFetcher(client(), store, { concurrency: 1, acceptedMediaTypes: ACCEPTED, log: (m) => messages.push(m), backoffMs: () => 1 });
    await expect(fetcher.ensureBlob("other", blobDigest)).rejects.toMatchObject({ status: 503 });
    expect(messages.filter((m) => m.includes("retry"))).toHaveLength(4);
  });
});

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return chunks;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** A port nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}
