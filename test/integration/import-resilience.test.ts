/**
 * Import (docs/import.md) from a source that misbehaves, what import.test.ts leaves out: a
 * real docker-registry (CNCF distribution from Debian) behind a fault proxy that drops the
 * connection in the middle of a layer (with and without honouring Range on the next GET),
 * corrupts a layer's bytes, serves manifest bytes that do not match their digest, or answers
 * 503 to every blob GET. The target is the real local stack with auth on; what is checked is
 * what a user sees: the operation's status and error, and the target's tags, manifests and
 * blobs through /v2/ with a token on _repositories_admin.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDistributionRegistry, startFaultProxy, type DistributionRegistry, type FaultProxy, type ProxyFaults } from "../support/distribution.js";
import { ManagementClient } from "../support/management-client.js";
import {
  DOCKER_MANIFEST_MEDIA_TYPE,
  OCI_CONFIG_MEDIA_TYPE,
  OCI_INDEX_MEDIA_TYPE,
  OCI_LAYER_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  sha256Digest,
} from "../support/oci-layout.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const DOCKER_LIST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT_ANY_MANIFEST = [OCI_INDEX_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, DOCKER_LIST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE].join(", ");
const MIB = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const jsonBytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/** An image as the source holds it: what the target must hold byte for byte afterwards. */
interface SourceImage {
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  manifest: Buffer;
  /** An index's platform manifests, by digest (empty for a single image). */
  children: Map<string, Buffer>;
  /** Config and layers, by digest. */
  blobs: Map<string, Buffer>;
  /** Layer digests, in manifest order (of every platform, for an index). */
  layers: string[];
}

/** What the management API answers for an operation (docs/import.md). */
interface Operation {
  id: string;
  kind: string;
  status: "Running" | "Succeeded" | "Failed";
  source: string;
  targetTags: string[];
  progress: { bytesCopied: number; bytesTotal: number; blobsCopied: number; blobsTotal: number; blobsSkipped: number };
  digest?: string | null;
  error: { code: string; message: string } | null;
  endedAt: string | null;
}

/** Plain Distribution API pushes (POST then PUT ?digest=) to the source, as any client does. */
class DistributionPusher {
  constructor(private readonly baseUrl: string) {}

  async blob(repository: string, bytes: Buffer): Promise<string> {
    const digest = sha256Digest(bytes);
    const started = await fetch(`${this.baseUrl}/v2/${repository}/blobs/uploads/`, { method: "POST" });
    await started.arrayBuffer();
    if (started.status !== 202) throw new Error(`POST blob upload to ${repository} answered ${started.status}`);
    const location = new URL(started.headers.get("location")!, this.baseUrl);
    location.searchParams.set("digest", digest);
    const finished = await fetch(location, { method: "PUT", headers: { "Content-Type": "application/octet-stream" }, body: bytes });
    const text = await finished.text();
    if (finished.status !== 201) throw new Error(`PUT blob ${digest} to ${repository} answered ${finished.status}: ${text}`);
    return digest;
  }

  async manifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<void> {
    const response = await fetch(`${this.baseUrl}/v2/${repository}/manifests/${reference}`, { method: "PUT", headers: { "Content-Type": mediaType }, body: bytes });
    const text = await response.text();
    if (response.status !== 201) throw new Error(`PUT manifest ${repository}:${reference} answered ${response.status}: ${text}`);
  }

  /** An OCI image manifest over a fresh config and `layers` random layers of `layerBytes` each; pushed by digest, and by tag when given. */
  private async imageManifest(repository: string, layers: number, layerBytes: number, blobs: Map<string, Buffer>, layerDigests: string[]): Promise<Buffer> {
    const config = jsonBytes({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") });
    blobs.set(await this.blob(repository, config), config);
    const descriptors = [];
    for (let i = 0; i < layers; i++) {
      const layer = randomBytes(layerBytes);
      const digest = await this.blob(repository, layer);
      blobs.set(digest, layer);
      layerDigests.push(digest);
      descriptors.push({ mediaType: OCI_LAYER_MEDIA_TYPE, digest, size: layer.length });
    }
    return jsonBytes({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      config: { mediaType: OCI_CONFIG_MEDIA_TYPE, digest: sha256Digest(config), size: config.length },
      layers: descriptors,
    });
  }

  /** A single-platform OCI image of `layers` random layers of `layerBytes` each, tagged `tag`. */
  async randomImage(repository: string, tag: string, layers: number, layerBytes: number): Promise<SourceImage> {
    const blobs = new Map<string, Buffer>();
    const layerDigests: string[] = [];
    const manifest = await this.imageManifest(repository, layers, layerBytes, blobs, layerDigests);
    await this.manifest(repository, tag, manifest, OCI_MANIFEST_MEDIA_TYPE);
    return { repository, tag, digest: sha256Digest(manifest), mediaType: OCI_MANIFEST_MEDIA_TYPE, manifest, children: new Map(), blobs, layers: layerDigests };
  }

  /** A two-platform OCI index (each platform one small random layer), tagged `tag`. */
  async randomIndex(repository: string, tag: string): Promise<SourceImage> {
    const blobs = new Map<string, Buffer>();
    const children = new Map<string, Buffer>();
    const layerDigests: string[] = [];
    const entries = [];
    for (const platform of [{ architecture: "amd64", os: "linux" }, { architecture: "arm64", os: "linux", variant: "v8" }]) {
      const manifest = await this.imageManifest(repository, 1, 64 * 1024, blobs, layerDigests);
      const digest = sha256Digest(manifest);
      await this.manifest(repository, digest, manifest, OCI_MANIFEST_MEDIA_TYPE);
      children.set(digest, manifest);
      entries.push({ mediaType: OCI_MANIFEST_MEDIA_TYPE, digest, size: manifest.length, platform });
    }
    const index = jsonBytes({ schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests: entries });
    await this.manifest(repository, tag, index, OCI_INDEX_MEDIA_TYPE);
    return { repository, tag, digest: sha256Digest(index), mediaType: OCI_INDEX_MEDIA_TYPE, manifest: index, children, blobs, layers: layerDigests };
  }
}

/** The target registry as a user checks it: /v2/ with a token on _repositories_admin, and the management API. */
class Target {
  readonly management: ManagementClient;
  private authorization = "";

  constructor(readonly stack: TestStack) {
    this.management = new ManagementClient(stack.registryUrl);
  }

  async createChecker(name: string): Promise<void> {
    const password = await this.management.tokenWithPassword(name, { scopeMap: "_repositories_admin" });
    this.authorization = `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}`;
  }

  v2(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.stack.registryUrl}/v2/${path}`, { headers: { Authorization: this.authorization, ...headers } });
  }

  /**
   * The repository's tags, sorted: [] when it has none. A repository nothing was ever written
   * to answers 404 NAME_UNKNOWN (the Distribution spec's answer); anything else is a failure.
   */
  async tags(repository: string): Promise<string[]> {
    const response = await this.v2(`${repository}/tags/list`);
    const text = await response.text();
    if (response.status === 404) {
      expect(JSON.parse(text).errors?.[0]?.code, `tags/list of ${repository}: ${text}`).toBe("NAME_UNKNOWN");
      return [];
    }
    expect(response.status, `tags/list of ${repository}: ${text}`).toBe(200);
    const body = JSON.parse(text) as { tags?: string[] | null };
    return [...(body.tags ?? [])].sort();
  }

  async manifest(repository: string, reference: string): Promise<{ status: number; digest: string | null; contentType: string | null; body: Buffer }> {
    const response = await this.v2(`${repository}/manifests/${reference}`, { Accept: ACCEPT_ANY_MANIFEST });
    return {
      status: response.status,
      digest: response.headers.get("docker-content-digest"),
      contentType: response.headers.get("content-type"),
      body: Buffer.from(await response.arrayBuffer()),
    };
  }

  /** The repository holds the image under `reference` byte for byte: manifest, platform manifests, and every blob hashing to its digest. */
  async expectImage(repository: string, reference: string, image: SourceImage): Promise<void> {
    const top = await this.manifest(repository, reference);
    expect(top.status, `GET ${repository}:${reference}`).toBe(200);
    expect(top.digest, `digest of ${repository}:${reference}`).toBe(image.digest);
    expect(top.contentType, `media type of ${repository}:${reference}`).toBe(image.mediaType);
    expect(top.body.equals(image.manifest), `bytes of ${repository}:${reference}`).toBe(true);
    for (const [digest, bytes] of image.children) {
      const child = await this.manifest(repository, digest);
      expect(child.status, `GET ${repository}@${digest}`).toBe(200);
      expect(child.body.equals(bytes), `bytes of platform manifest ${digest}`).toBe(true);
    }
    for (const [digest, bytes] of image.blobs) {
      const response = await this.v2(`${repository}/blobs/${digest}`);
      const body = Buffer.from(await response.arrayBuffer());
      expect(response.status, `GET blob ${digest} in ${repository}`).toBe(200);
      expect(body.length, `size of blob ${digest}`).toBe(bytes.length);
      expect(sha256Digest(body), `content of blob ${digest}`).toBe(digest);
    }
  }

  /** Nothing of the image is in the repository: no tag, no manifest by tag or digest, no platform manifest. */
  async expectAbsent(repository: string, tag: string, image: SourceImage): Promise<void> {
    expect(await this.tags(repository), `tags of ${repository}`).toEqual([]);
    expect((await this.manifest(repository, tag)).status, `GET ${repository}:${tag}`).toBe(404);
    expect((await this.manifest(repository, image.digest)).status, `GET ${repository}@${image.digest}`).toBe(404);
    for (const digest of image.children.keys()) expect((await this.manifest(repository, digest)).status, `GET ${repository}@${digest}`).toBe(404);
  }

  /** POST /management/import; with `wait: true` by default. */
  import(body: Record<string, unknown>): Promise<{ status: number; body: any }> {
    return this.management.call("POST", "import", { wait: true, ...body });
  }

  async importOk(body: Record<string, unknown>): Promise<Operation> {
    const response = await this.import(body);
    expect(response.status, `POST /management/import ${JSON.stringify(body)}: ${JSON.stringify(response.body)}`).toBe(200);
    const operation = response.body as Operation;
    expect(operation.status, `operation error: ${JSON.stringify(operation.error)}`).toBe("Succeeded");
    expect(operation.error).toBeNull();
    return operation;
  }

  async importFails(body: Record<string, unknown>, code: string): Promise<Operation> {
    const response = await this.import(body);
    expect(response.status, `POST /management/import: ${JSON.stringify(response.body)}`).toBe(200);
    const operation = response.body as Operation;
    expect(operation.status, JSON.stringify(operation)).toBe("Failed");
    expect(operation.error?.code, `error: ${JSON.stringify(operation.error)}`).toBe(code);
    expect(operation.error?.message).toEqual(expect.any(String));
    expect(operation.endedAt).toEqual(expect.any(String));
    return operation;
  }

  /** Polls the operation until it is no longer Running, or `timeoutMs` passes; the latest state either way. */
  async settle(id: string, timeoutMs: number): Promise<Operation> {
    const deadline = Date.now() + timeoutMs;
    let operation = await this.operation(id);
    while (operation.status === "Running" && Date.now() < deadline) {
      await sleep(250);
      operation = await this.operation(id);
    }
    return operation;
  }

  async operation(id: string): Promise<Operation> {
    const response = await this.management.call("GET", `operations/${id}`);
    expect(response.status, `GET /management/operations/${id}: ${JSON.stringify(response.body)}`).toBe(200);
    return response.body as Operation;
  }
}

describe("import from a source that misbehaves", () => {
  let target: Target;
  let source: DistributionRegistry;
  let push: DistributionPusher;
  const proxies: FaultProxy[] = [];

  /** A fault proxy in front of the source, stopped after the suite. */
  const faulty = async (faults: ProxyFaults): Promise<FaultProxy> => {
    const proxy = await startFaultProxy(source.url, faults);
    proxies.push(proxy);
    return proxy;
  };

  beforeAll(async () => {
    const [stack, registry] = await Promise.all([startTestStack({ anonymous: false }), startDistributionRegistry()]);
    target = new Target(stack);
    source = registry;
    push = new DistributionPusher(source.url);
    await target.createChecker("checker");
  });

  afterAll(async () => {
    await Promise.allSettled(proxies.map((proxy) => proxy.stop()));
    await Promise.allSettled([target?.stack.destroy(), source?.stop()]);
  });

  describe("a connection dropped in the middle of a layer", () => {
    it.each([
      ["after 4 MiB", 4 * MIB],
      ["past the first 8 MiB block, at an odd offset", 8 * MIB + 12_345],
    ])("resumes the layer with Range where the first GET stopped (%s), and imports it byte-correct", async (_where, cutAt) => {
      const repository = `resume-src/big-${cutAt}`;
      const image = await push.randomImage(repository, "v1", 1, 16 * MIB);
      const layer = image.layers[0]!;
      const proxy = await faulty({ cutBlob: { digest: layer, afterBytes: cutAt } });

      const operation = await target.importOk({ source: `${proxy.host}/${repository}:v1`, targetTags: [`resume/big-${cutAt}:v1`] });
      expect(operation.digest).toBe(image.digest);

      const gets = proxy.blobGets(layer);
      expect(gets.map(({ range, status, bytesSent, cut }) => ({ range, status, bytesSent, cut }))).toEqual([
        { range: undefined, status: 200, bytesSent: cutAt, cut: true },
        { range: `bytes=${cutAt}-`, status: 206, bytesSent: 16 * MIB - cutAt, cut: false },
      ]);
      // Each byte counted once: the resumed GET carried on, it did not start over.
      const total = [...image.blobs.values()].reduce((sum, bytes) => sum + bytes.length, 0);
      expect(operation.progress).toEqual({ bytesCopied: total, bytesTotal: total, blobsCopied: image.blobs.size, blobsTotal: image.blobs.size, blobsSkipped: 0 });

      expect(await target.tags(`resume/big-${cutAt}`)).toEqual(["v1"]);
      await target.expectImage(`resume/big-${cutAt}`, "v1", image);
    });

    it("resumes again each time the connection drops, within one run", async () => {
      const image = await push.randomImage("resume-src/flaky", "v1", 1, 16 * MIB);
      const layer = image.layers[0]!;
      const proxy = await faulty({ cutBlob: { digest: layer, afterBytes: 1 * MIB, times: 3 } });

      const operation = await target.importOk({ source: `${proxy.host}/resume-src/flaky:v1`, targetTags: ["resume/flaky:v1"] });
      expect(operation.digest).toBe(image.digest);
      expect(proxy.blobGets(layer).map(({ range, status, cut }) => ({ range, status, cut }))).toEqual([
        { range: undefined, status: 200, cut: true },
        { range: `bytes=${1 * MIB}-`, status: 206, cut: true },
        { range: `bytes=${2 * MIB}-`, status: 206, cut: true },
        { range: `bytes=${3 * MIB}-`, status: 206, cut: false },
      ]);
      await target.expectImage("resume/flaky", "v1", image);
    });

    it("starts the layer over when the source ignores Range, and imports it byte-correct", async () => {
      const image = await push.randomImage("norange-src/big", "v1", 1, 16 * MIB);
      const layer = image.layers[0]!;
      const proxy = await faulty({ cutBlob: { digest: layer, afterBytes: 4 * MIB }, ignoreRange: true });

      const operation = await target.importOk({ source: `${proxy.host}/norange-src/big:v1`, targetTags: ["norange/big:v1"] });
      expect(operation.digest).toBe(image.digest);

      const gets = proxy.blobGets(layer);
      expect(gets.map(({ range, status, bytesSent, cut }) => ({ range, status, bytesSent, cut }))).toEqual([
        { range: undefined, status: 200, bytesSent: 4 * MIB, cut: true },
        // The copier asked to resume; the source answered with the whole blob.
        { range: `bytes=${4 * MIB}-`, status: 200, bytesSent: 16 * MIB, cut: false },
      ]);
      expect(operation.progress).toMatchObject({ blobsCopied: image.blobs.size, blobsTotal: image.blobs.size, blobsSkipped: 0 });

      expect(await target.tags("norange/big")).toEqual(["v1"]);
      await target.expectImage("norange/big", "v1", image);
    });

    it("reports progress within bytesTotal when the source ignores Range and the layer starts over", async () => {
      const image = await push.randomImage("norange-src/progress", "v1", 1, 16 * MIB);
      const layer = image.layers[0]!;
      const proxy = await faulty({ cutBlob: { digest: layer, afterBytes: 4 * MIB }, ignoreRange: true });

      const operation = await target.importOk({ source: `${proxy.host}/norange-src/progress:v1`, targetTags: ["norange/progress:v1"] });
      const total = [...image.blobs.values()].reduce((sum, bytes) => sum + bytes.length, 0);
      // The 4 MiB thrown away when the blob started over are not bytes copied.
      expect(operation.progress).toEqual({ bytesCopied: total, bytesTotal: total, blobsCopied: image.blobs.size, blobsTotal: image.blobs.size, blobsSkipped: 0 });
    });
  });

  describe("a connection dropped in the middle of a manifest", () => {
    it("still imports the image (the manifest GET is tried again), not Failed with InternalError", async () => {
      const image = await push.randomImage("manifest-cut-src/app", "v1", 1, 64 * 1024);
      const proxy = await faulty({ cutManifest: { reference: "v1", afterBytes: 100 } });

      const accepted = await target.import({ source: `${proxy.host}/manifest-cut-src/app:v1`, targetTags: ["manifest-cut/app:v1"], wait: false });
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
      // Up to one claim later (30 s) plus the worker timer, should the retry come from the queue.
      const operation = await target.settle((accepted.body as Operation).id, 60_000);
      const manifestGets = proxy.requests.filter((request) => request.method === "GET" && request.path.endsWith("/manifests/v1"));
      expect(manifestGets[0]).toMatchObject({ status: 200, bytesSent: 100, cut: true });
      expect(operation.status, JSON.stringify(operation)).toBe("Succeeded");
      await target.expectImage("manifest-cut/app", "v1", image);
    });
  });

  describe("content that does not match its digest", () => {
    it("fails with DigestMismatch naming the layer when a layer's bytes are corrupted, and writes no tag or manifest", async () => {
      const image = await push.randomImage("corrupt-src/app", "v1", 2, 1 * MIB);
      const layer = image.layers[1]!;
      const proxy = await faulty({ corruptBlob: { digest: layer, offset: 123_457 } });

      const operation = await target.importFails({ source: `${proxy.host}/corrupt-src/app:v1`, targetTags: ["corrupt/app:v1"] }, "DigestMismatch");
      expect(operation.error?.message).toContain(layer);
      // The proxy really served the layer, the same length, once or more.
      expect(proxy.blobGets(layer).length).toBeGreaterThanOrEqual(1);
      expect(proxy.blobGets(layer).every((get) => get.status === 200 && get.bytesSent === 1 * MIB)).toBe(true);

      await target.expectAbsent("corrupt/app", "v1", image);
      expect((await target.v2(`corrupt/app/blobs/${layer}`)).status).toBe(404);

      // The corrupted bytes were not kept under the layer's digest: the same image from the
      // source itself imports byte-correct.
      const clean = await target.importOk({ source: `${source.host}/corrupt-src/app:v1`, targetTags: ["corrupt/app:v1"] });
      expect(clean.digest).toBe(image.digest);
      await target.expectImage("corrupt/app", "v1", image);
    });

    it("fails with DigestMismatch when the manifest's bytes are not those of the source's Docker-Content-Digest (by tag)", async () => {
      const image = await push.randomImage("tamper-src/app", "v1", 1, 64 * 1024);
      const proxy = await faulty({ tamperManifests: true });
      // What the proxy serves: the source's header still names image.digest.
      const served = await fetch(`${proxy.url}/v2/tamper-src/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST_MEDIA_TYPE } });
      const servedBytes = Buffer.from(await served.arrayBuffer());
      expect(served.headers.get("docker-content-digest")).toBe(image.digest);
      expect(sha256Digest(servedBytes)).not.toBe(image.digest);

      const operation = await target.importFails({ source: `${proxy.host}/tamper-src/app:v1`, targetTags: ["tamper/by-tag:v1"] }, "DigestMismatch");
      expect(operation.error?.message).toContain(image.digest);
      await target.expectAbsent("tamper/by-tag", "v1", image);
    });

    it("fails with DigestMismatch when the manifest's bytes are not those of the digest the source was asked for", async () => {
      const image = await push.randomImage("tamper-src/pinned", "v1", 1, 64 * 1024);
      const proxy = await faulty({ tamperManifests: true });

      const operation = await target.importFails({ source: `${proxy.host}/tamper-src/pinned@${image.digest}`, targetTags: ["tamper/by-digest:v1"] }, "DigestMismatch");
      expect(operation.error?.message).toContain(image.digest);
      await target.expectAbsent("tamper/by-digest", "v1", image);
    });

    it("fails with DigestMismatch when one platform manifest of an index does not match its digest", async () => {
      const index = await push.randomIndex("tamper-src/multi", "v1");
      const child = [...index.children.keys()][1]!;
      const proxy = await faulty({ tamperManifests: [child] });

      const operation = await target.importFails({ source: `${proxy.host}/tamper-src/multi:v1`, targetTags: ["tamper/multi:v1"] }, "DigestMismatch");
      expect(operation.error?.message).toContain(child);
      await target.expectAbsent("tamper/multi", "v1", index);
    });
  });

  // Last in the file: these operations go on retrying in the background until the stack stops
  // (each test stops its proxy at the end, so those retries fail fast at GET /v2/).
  describe("a source that never delivers", () => {
    it("does not report InternalError when the connection drops on every attempt at a layer: SourceUnreachable, or Running while it retries", async () => {
      const image = await push.randomImage("always-cut-src/app", "v1", 1, 16 * MIB);
      const layer = image.layers[0]!;
      const proxy = await faulty({ cutBlob: { digest: layer, afterBytes: 1 * MIB, times: Number.POSITIVE_INFINITY } });
      try {
        const accepted = await target.import({ source: `${proxy.host}/always-cut-src/app:v1`, targetTags: ["always-cut/app:v1"], wait: false });
        expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
        const id = (accepted.body as Operation).id;
        // The copier's own tries (5, with back-off) take about 21 s; then the run ends.
        const deadline = Date.now() + 30_000;
        let operation = accepted.body as Operation;
        while (Date.now() < deadline && operation.status === "Running") {
          await sleep(1000);
          operation = await target.operation(id);
        }
        expect(proxy.blobGets(layer).length).toBeGreaterThanOrEqual(5);
        expect(operation.status, JSON.stringify(operation)).not.toBe("Succeeded");
        if (operation.status === "Failed") expect(operation.error?.code, JSON.stringify(operation.error)).toBe("SourceUnreachable");
        await target.expectAbsent("always-cut/app", "v1", image);
      } finally {
        await proxy.stop();
      }
    });

    it("does not succeed when every blob GET answers 503: Running while it retries (or SourceUnreachable), and writes no tag", async () => {
      const image = await push.randomImage("unavailable-src/app", "v1", 1, 256 * 1024);
      const proxy = await faulty({ failBlobsWith: 503 });
      try {
        const accepted = await target.import({ source: `${proxy.host}/unavailable-src/app:v1`, targetTags: ["unavailable/app:v1"], wait: false });
        expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
        const id = (accepted.body as Operation).id;

        const deadline = Date.now() + 20_000;
        let operation = accepted.body as Operation;
        while (Date.now() < deadline) {
          await sleep(1000);
          operation = await target.operation(id);
          expect(operation.status, JSON.stringify(operation)).not.toBe("Succeeded");
          expect(await target.tags("unavailable/app")).toEqual([]);
          if (operation.status === "Failed") break;
        }
        if (operation.status === "Failed") {
          expect(operation.error?.code, JSON.stringify(operation.error)).toBe("SourceUnreachable");
        } else {
          expect(operation.status).toBe("Running");
          expect(operation.digest).toBe(image.digest);
          expect(operation.progress).toMatchObject({ bytesCopied: 0, blobsCopied: 0 });
        }
        // It did retry: more than one GET of the same blob reached the source, and each got 503.
        const perBlob = [...image.blobs.keys()].map((digest) => proxy.blobGets(digest).length);
        expect(Math.max(...perBlob)).toBeGreaterThanOrEqual(2);
        expect(proxy.requests.filter((request) => request.path.includes("/blobs/")).every((request) => request.status === 503)).toBe(true);
        await target.expectAbsent("unavailable/app", "v1", image);
      } finally {
        await proxy.stop();
      }
    });
  });
});
