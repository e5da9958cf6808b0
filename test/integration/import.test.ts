/**
 * Import (docs/import.md) against real sources: CNCF distribution (`docker-registry` from
 * Debian) started here, anonymous, behind htpasswd (Basic) and behind a Bearer-token proxy,
 * holding a multi-arch OCI index (pushed by skopeo from an OCI layout), a Docker manifest
 * list (pushed with plain HTTP PUTs, so its bytes are known up front) and a single Docker
 * image (pushed by skopeo from a `dir:`); the target is the real local stack with auth on.
 * What a user checks: the operation's status and error, and the target's tags and digests
 * through /v2/ with a token on _repositories_admin, every manifest byte-identical.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startBearerProxy,
  startDistributionRegistry,
  startNotARegistry,
  startSlowProxy,
  type BearerProxy,
  type Credentials,
  type DistributionRegistry,
} from "../support/distribution.js";
import { ManagementClient } from "../support/management-client.js";
import {
  DOCKER_CONFIG_MEDIA_TYPE,
  DOCKER_LAYER_MEDIA_TYPE,
  DOCKER_MANIFEST_MEDIA_TYPE,
  OCI_CONFIG_MEDIA_TYPE,
  OCI_INDEX_MEDIA_TYPE,
  OCI_LAYER_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  sha256Digest,
  writeDockerDirImage,
  writeMultiArchOciLayout,
} from "../support/oci-layout.js";
import { Skopeo } from "../support/skopeo.js";
import { TEST_ADMIN_KEY, startTestStack, type TestStack } from "../support/stack.js";

const DOCKER_LIST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT_ANY_MANIFEST = [OCI_INDEX_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, DOCKER_LIST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE].join(", ");
const MIB = 1024 * 1024;

/** The account the htpasswd registry and the Bearer proxy know. */
const IMPORTER: Credentials = { username: "importer", password: "correct-horse-battery-staple" };
const WRONG: Credentials = { username: "importer", password: "not-the-password" };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const basic = ({ username, password }: Credentials): string => `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
const jsonBytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/** An image as the source holds it: what the target must hold byte for byte afterwards. */
interface SourceImage {
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  manifest: Buffer;
  /** An index's or list's platform manifests, by digest (empty for a single image). */
  children: Map<string, Buffer>;
  /** Configs and layers, by digest. */
  blobs: Map<string, Buffer>;
}

/** What the management API answers for an operation (docs/import.md). */
interface Operation {
  id: string;
  kind: string;
  status: "Running" | "Succeeded" | "Failed";
  source: string;
  targetTags: string[];
  untaggedTargetRepositories: string[];
  mode: string;
  progress: { bytesCopied: number; bytesTotal: number; blobsCopied: number; blobsTotal: number; blobsSkipped: number };
  digest?: string | null;
  error: { code: string; message: string } | null;
  createdAt: string;
  updatedAt: string;
  endedAt: string | null;
}

/** A registry to import from: the host the import names, and where (and how) the test pushes to it. */
interface SourceRegistry {
  label: string;
  /** Repository prefix for this source's content, in the source and in the target. */
  prefix: string;
  host: string;
  /** What the import sends as username/password (undefined: none). */
  credentials: Credentials | undefined;
  pushUrl: string;
  pushHost: string;
  pushCredentials: Credentials | undefined;
}

/** skopeo's own and plain HTTP pushes of the three kinds of image to a source registry. */
class Seeder {
  constructor(
    private readonly skopeo: Skopeo,
    private readonly workDir: string,
  ) {}

  private folder(name: string): string {
    return join(this.workDir, `${name}-${randomBytes(4).toString("hex")}`);
  }

  private destCreds(source: SourceRegistry): string[] {
    return source.pushCredentials ? ["--dest-creds", `${source.pushCredentials.username}:${source.pushCredentials.password}`] : [];
  }

  /** A two-platform OCI index, pushed with `skopeo copy --all` from an OCI layout. */
  async ociIndex(source: SourceRegistry, repository: string, tag: string): Promise<SourceImage> {
    const layout = await writeMultiArchOciLayout(this.folder("oci"), { tag, seed: `${source.prefix}/${repository}/${randomBytes(4).toString("hex")}` });
    await this.skopeo.run("copy", [
      "--quiet",
      "--all",
      "--preserve-digests",
      "--dest-tls-verify=false",
      ...this.destCreds(source),
      `oci:${layout.dir}:${tag}`,
      `docker://${source.pushHost}/${repository}:${tag}`,
    ]);
    const children = new Map(layout.platforms.map((p) => [p.manifestDigest, layout.blobs.get(p.manifestDigest)!] as const));
    const blobs = new Map<string, Buffer>();
    for (const p of layout.platforms) for (const digest of [p.configDigest, ...p.layerDigests]) blobs.set(digest, layout.blobs.get(digest)!);
    return { repository, tag, digest: layout.indexDigest, mediaType: OCI_INDEX_MEDIA_TYPE, manifest: layout.blobs.get(layout.indexDigest)!, children, blobs };
  }

  /** A single-platform Docker schema 2 image, pushed with `skopeo copy` from a `dir:`. */
  async single(source: SourceRegistry, repository: string, tag: string): Promise<SourceImage> {
    const image = await writeDockerDirImage(this.folder("docker"), { seed: `${source.prefix}/${repository}/${randomBytes(4).toString("hex")}` });
    await this.skopeo.run("copy", ["--quiet", "--preserve-digests", "--dest-tls-verify=false", ...this.destCreds(source), `dir:${image.dir}`, `docker://${source.pushHost}/${repository}:${tag}`]);
    return { repository, tag, digest: image.manifestDigest, mediaType: DOCKER_MANIFEST_MEDIA_TYPE, manifest: image.manifest, children: new Map(), blobs: image.blobs };
  }

  /**
   * A two-platform Docker manifest list over Docker schema 2 manifests, written here and
   * pushed with plain HTTP (blobs, then each manifest by digest, then the list by tag).
   */
  async dockerList(source: SourceRegistry, repository: string, tag: string): Promise<SourceImage> {
    const layout = await writeMultiArchOciLayout(this.folder("list"), { tag, seed: `${source.prefix}/${repository}/${randomBytes(4).toString("hex")}` });
    const push = new DistributionPusher(source.pushUrl, source.pushCredentials);
    const blobs = new Map<string, Buffer>();
    const children = new Map<string, Buffer>();
    const entries = [];
    for (const p of layout.platforms) {
      const config = layout.blobs.get(p.configDigest)!;
      const layers = p.layerDigests.map((digest) => layout.blobs.get(digest)!);
      for (const bytes of [config, ...layers]) {
        blobs.set(sha256Digest(bytes), bytes);
        await push.blob(repository, bytes);
      }
      const manifest = jsonBytes({
        schemaVersion: 2,
        mediaType: DOCKER_MANIFEST_MEDIA_TYPE,
        config: { mediaType: DOCKER_CONFIG_MEDIA_TYPE, size: config.length, digest: p.configDigest },
        layers: layers.map((bytes) => ({ mediaType: DOCKER_LAYER_MEDIA_TYPE, size: bytes.length, digest: sha256Digest(bytes) })),
      });
      const digest = sha256Digest(manifest);
      await push.manifest(repository, digest, manifest, DOCKER_MANIFEST_MEDIA_TYPE);
      children.set(digest, manifest);
      entries.push({ mediaType: DOCKER_MANIFEST_MEDIA_TYPE, size: manifest.length, digest, platform: p.platform });
    }
    const list = jsonBytes({ schemaVersion: 2, mediaType: DOCKER_LIST_MEDIA_TYPE, manifests: entries });
    await push.manifest(repository, tag, list, DOCKER_LIST_MEDIA_TYPE);
    return { repository, tag, digest: sha256Digest(list), mediaType: DOCKER_LIST_MEDIA_TYPE, manifest: list, children, blobs };
  }
}

/** Plain Distribution API pushes (POST then PUT ?digest=), as any client does. */
class DistributionPusher {
  constructor(
    private readonly baseUrl: string,
    private readonly credentials: Credentials | undefined,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.credentials ? { Authorization: basic(this.credentials) } : {}), ...extra };
  }

  async blob(repository: string, bytes: Buffer): Promise<string> {
    const digest = sha256Digest(bytes);
    const started = await fetch(`${this.baseUrl}/v2/${repository}/blobs/uploads/`, { method: "POST", headers: this.headers() });
    await started.arrayBuffer();
    if (started.status !== 202) throw new Error(`POST blob upload to ${repository} answered ${started.status}`);
    const location = new URL(started.headers.get("location")!, this.baseUrl);
    location.searchParams.set("digest", digest);
    const finished = await fetch(location, { method: "PUT", headers: this.headers({ "Content-Type": "application/octet-stream" }), body: bytes });
    const text = await finished.text();
    if (finished.status !== 201) throw new Error(`PUT blob ${digest} to ${repository} answered ${finished.status}: ${text}`);
    return digest;
  }

  async manifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<void> {
    const response = await fetch(`${this.baseUrl}/v2/${repository}/manifests/${reference}`, { method: "PUT", headers: this.headers({ "Content-Type": mediaType }), body: bytes });
    const text = await response.text();
    if (response.status !== 201) throw new Error(`PUT manifest ${repository}:${reference} answered ${response.status}: ${text}`);
  }

  /** An OCI image of `layers` random layers of `layerBytes` each (large images for progress and restarts). */
  async randomImage(repository: string, tag: string, layers: number, layerBytes: number): Promise<SourceImage> {
    const blobs = new Map<string, Buffer>();
    const config = jsonBytes({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") });
    blobs.set(await this.blob(repository, config), config);
    const descriptors = [];
    for (let i = 0; i < layers; i++) {
      const layer = randomBytes(layerBytes);
      const digest = await this.blob(repository, layer);
      blobs.set(digest, layer);
      descriptors.push({ mediaType: OCI_LAYER_MEDIA_TYPE, digest, size: layer.length });
    }
    const manifest = jsonBytes({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      config: { mediaType: OCI_CONFIG_MEDIA_TYPE, digest: sha256Digest(config), size: config.length },
      layers: descriptors,
    });
    await this.manifest(repository, tag, manifest, OCI_MANIFEST_MEDIA_TYPE);
    return { repository, tag, digest: sha256Digest(manifest), mediaType: OCI_MANIFEST_MEDIA_TYPE, manifest, children: new Map(), blobs };
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
    this.authorization = basic({ username: name, password });
  }

  v2(path: string, headers: Record<string, string> = {}): Promise<Response> {
    // Blob GETs may be redirected to storage; fetch drops Authorization on the cross-origin hop.
    return fetch(`${this.stack.registryUrl}/v2/${path}`, { headers: { Authorization: this.authorization, ...headers } });
  }

  /** The repository's tags, sorted; [] when it has none or does not exist. */
  async tags(repository: string): Promise<string[]> {
    const response = await this.v2(`${repository}/tags/list`);
    if (response.status === 404) {
      await response.arrayBuffer();
      return [];
    }
    expect(response.status, `tags/list of ${repository}`).toBe(200);
    const body = (await response.json()) as { tags?: string[] | null };
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

  /**
   * The repository holds the image under `reference` (a tag or its digest) byte for byte: the
   * manifest (same media type and digest), every platform manifest by digest, and every
   * config and layer, each hashing to its digest.
   */
  async expectImage(repository: string, reference: string, image: SourceImage): Promise<void> {
    const top = await this.manifest(repository, reference);
    expect(top.status, `GET ${repository}:${reference}`).toBe(200);
    expect(top.digest, `digest of ${repository}:${reference}`).toBe(image.digest);
    expect(top.contentType, `media type of ${repository}:${reference}`).toBe(image.mediaType);
    expect(sha256Digest(top.body)).toBe(image.digest);
    expect(top.body.equals(image.manifest), `bytes of ${repository}:${reference}`).toBe(true);
    for (const [digest, bytes] of image.children) {
      const child = await this.manifest(repository, digest);
      expect(child.status, `GET ${repository}@${digest}`).toBe(200);
      expect(child.digest).toBe(digest);
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

  /** The manifest is in the repository by digest but under no tag. */
  async expectUntagged(repository: string, image: SourceImage): Promise<void> {
    await this.expectImage(repository, image.digest, image);
    expect(await this.tags(repository)).toEqual([]);
  }

  /** POST /management/import; with `wait: true` by default. */
  async import(body: Record<string, unknown>): Promise<{ status: number; body: any }> {
    return this.management.call("POST", "import", { wait: true, ...body });
  }

  /** An import with wait that must succeed; returns the ended operation. */
  async importOk(body: Record<string, unknown>): Promise<Operation> {
    const response = await this.import(body);
    expect(response.status, `POST /management/import ${JSON.stringify(redact(body))}: ${JSON.stringify(response.body)}`).toBe(200);
    const operation = response.body as Operation;
    expect(operation.status, `operation error: ${JSON.stringify(operation.error)}`).toBe("Succeeded");
    expect(operation.kind).toBe("import");
    expect(operation.error).toBeNull();
    expect(operation.endedAt).toEqual(expect.any(String));
    return operation;
  }

  /** An import with wait whose operation must fail with `code`; returns the ended operation. */
  async importFails(body: Record<string, unknown>, code: string): Promise<Operation> {
    const response = await this.import(body);
    expect(response.status, `POST /management/import: ${JSON.stringify(response.body)}`).toBe(200);
    const operation = response.body as Operation;
    expect(operation.status).toBe("Failed");
    expect(operation.error?.code, `error: ${JSON.stringify(operation.error)}`).toBe(code);
    expect(operation.error?.message).toEqual(expect.any(String));
    expect(operation.endedAt).toEqual(expect.any(String));
    return operation;
  }

  async operation(id: string): Promise<Operation> {
    const response = await this.management.call("GET", `operations/${id}`);
    expect(response.status, `GET /management/operations/${id}: ${JSON.stringify(response.body)}`).toBe(200);
    return response.body as Operation;
  }
}

function redact(body: Record<string, unknown>): Record<string, unknown> {
  return "password" in body ? { ...body, password: "***" } : body;
}

/** username/password for the import, when the source needs them. */
const credentialsOf = (source: SourceRegistry, override?: Credentials): Record<string, string> => {
  const credentials = override ?? source.credentials;
  return credentials ? { username: credentials.username, password: credentials.password } : {};
};

describe("import into the local stack", () => {
  let target: Target;
  let skopeo: Skopeo;
  let workDir: string;
  let seeder: Seeder;
  let anonymousRegistry: DistributionRegistry;
  let htpasswdRegistry: DistributionRegistry;
  let bearerUpstream: DistributionRegistry;
  let bearerProxy: BearerProxy;
  const sources = {} as Record<"anonymous" | "htpasswd" | "bearer", SourceRegistry>;

  beforeAll(async () => {
    const [stack, anonymous, htpasswd, upstream] = await Promise.all([
      startTestStack({ anonymous: false }),
      startDistributionRegistry(),
      startDistributionRegistry({ htpasswd: IMPORTER }),
      startDistributionRegistry(),
    ]);
    target = new Target(stack);
    anonymousRegistry = anonymous;
    htpasswdRegistry = htpasswd;
    bearerUpstream = upstream;
    bearerProxy = await startBearerProxy(bearerUpstream.url, IMPORTER);
    await target.createChecker("checker");
    skopeo = await Skopeo.create();
    workDir = await mkdtemp(join(tmpdir(), "import-test-"));
    seeder = new Seeder(skopeo, workDir);

    sources.anonymous = {
      label: "an anonymous docker-registry",
      prefix: "anon",
      host: anonymous.host,
      credentials: undefined,
      pushUrl: anonymous.url,
      pushHost: anonymous.host,
      pushCredentials: undefined,
    };
    sources.htpasswd = {
      label: "a docker-registry with htpasswd (Basic) auth",
      prefix: "basic",
      host: htpasswd.host,
      credentials: IMPORTER,
      pushUrl: htpasswd.url,
      pushHost: htpasswd.host,
      pushCredentials: IMPORTER,
    };
    // Content goes into the upstream directly; the import goes through the proxy.
    sources.bearer = {
      label: "a registry behind the Bearer token flow",
      prefix: "bearer",
      host: bearerProxy.host,
      credentials: IMPORTER,
      pushUrl: upstream.url,
      pushHost: upstream.host,
      pushCredentials: undefined,
    };
  });

  afterAll(async () => {
    await Promise.allSettled([target?.stack.destroy(), anonymousRegistry?.stop(), htpasswdRegistry?.stop(), bearerUpstream?.stop(), bearerProxy?.stop()]);
    await skopeo?.dispose();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  describe.each(["anonymous", "htpasswd", "bearer"] as const)("from %s source", (kind) => {
    let source: SourceRegistry;
    let index: SourceImage;
    let list: SourceImage;
    let single: SourceImage;
    const ref = (image: SourceImage, by: "tag" | "digest" = "tag"): string =>
      `${source.host}/${image.repository}${by === "tag" ? `:${image.tag}` : `@${image.digest}`}`;

    beforeAll(async () => {
      source = sources[kind];
      index = await seeder.ociIndex(source, `${source.prefix}-src/multi`, "v1");
      list = await seeder.dockerList(source, `${source.prefix}-src/list`, "2024.1");
      single = await seeder.single(source, `${source.prefix}-src/single`, "1.0");
    });

    it("imports a multi-arch OCI index by tag with every platform, byte-identical", async () => {
      const repository = `${source.prefix}/multi`;
      const operation = await target.importOk({ source: ref(index), targetTags: [`${repository}:v1`], ...credentialsOf(source) });
      expect(operation.digest).toBe(index.digest);
      expect(operation.targetTags).toEqual([`${repository}:v1`]);
      expect(operation.progress.blobsTotal).toBeGreaterThanOrEqual(index.blobs.size);
      expect(operation.progress.blobsCopied + operation.progress.blobsSkipped).toBe(operation.progress.blobsTotal);
      expect(await target.tags(repository)).toEqual(["v1"]);
      await target.expectImage(repository, "v1", index);
    });

    it("imports a Docker manifest list by digest, without converting it to OCI", async () => {
      const repository = `${source.prefix}/list`;
      const operation = await target.importOk({ source: ref(list, "digest"), targetTags: [`${repository}:pinned`], ...credentialsOf(source) });
      expect(operation.digest).toBe(list.digest);
      expect(await target.tags(repository)).toEqual(["pinned"]);
      await target.expectImage(repository, "pinned", list);
    });

    it("imports a Docker manifest list by tag", async () => {
      const repository = `${source.prefix}/list-by-tag`;
      await target.importOk({ source: ref(list), targetTags: [`${repository}:${list.tag}`], ...credentialsOf(source) });
      await target.expectImage(repository, list.tag, list);
    });

    it("writes several target tags, in several repositories, from one import", async () => {
      const targetTags = [`${source.prefix}/single:1.0`, `${source.prefix}/single:latest`, `${source.prefix}/single-copy:stable`];
      const operation = await target.importOk({ source: ref(single), targetTags, ...credentialsOf(source) });
      expect(operation.digest).toBe(single.digest);
      expect(await target.tags(`${source.prefix}/single`)).toEqual(["1.0", "latest"]);
      expect(await target.tags(`${source.prefix}/single-copy`)).toEqual(["stable"]);
      await target.expectImage(`${source.prefix}/single`, "1.0", single);
      await target.expectImage(`${source.prefix}/single`, "latest", single);
      await target.expectImage(`${source.prefix}/single-copy`, "stable", single);
    });

    it("copies into untaggedTargetRepositories by digest, with no tag there", async () => {
      const tagged = `${source.prefix}/with-archive`;
      const archive = `${source.prefix}/archive`;
      await target.importOk({ source: ref(index), targetTags: [`${tagged}:v1`], untaggedTargetRepositories: [archive], ...credentialsOf(source) });
      await target.expectImage(tagged, "v1", index);
      await target.expectUntagged(archive, index);
    });

    it("defaults the target tag to the source's repository and tag", async () => {
      const operation = await target.importOk({ source: ref(single), ...credentialsOf(source) });
      expect(operation.targetTags).toEqual([`${single.repository}:${single.tag}`]);
      expect(await target.tags(single.repository)).toEqual([single.tag]);
      await target.expectImage(single.repository, single.tag, single);
    });

    it("imports a source by digest without targets untagged into the source's repository", async () => {
      await target.importOk({ source: ref(list, "digest"), ...credentialsOf(source) });
      await target.expectUntagged(list.repository, list);
    });

    it("refuses with 409 TagExists naming the tag under NoForce (the default), changing nothing; Force replaces it", async () => {
      const repository = `${source.prefix}/guarded`;
      await target.importOk({ source: ref(single), targetTags: [`${repository}:v1`], ...credentialsOf(source) });

      for (const mode of [{ mode: "NoForce" }, {}]) {
        const refused = await target.import({ source: ref(index), targetTags: [`${repository}:v2`, `${repository}:v1`], ...mode, ...credentialsOf(source) });
        expect(refused.status, JSON.stringify(refused.body)).toBe(409);
        expect(refused.body.error.code).toBe("TagExists");
        expect(refused.body.error.message).toContain(`${repository}:v1`);
        expect(refused.body.error.message).not.toContain(`${repository}:v2`);
      }
      // Nothing changed: v1 still the single image, no v2.
      expect(await target.tags(repository)).toEqual(["v1"]);
      await target.expectImage(repository, "v1", single);

      const forced = await target.importOk({ source: ref(index), targetTags: [`${repository}:v2`, `${repository}:v1`], mode: "Force", ...credentialsOf(source) });
      expect(forced.mode).toBe("Force");
      expect(await target.tags(repository)).toEqual(["v1", "v2"]);
      await target.expectImage(repository, "v1", index);
      await target.expectImage(repository, "v2", index);
    });

    it("fails with SourceNotFound for a tag the source does not have, leaving the target unchanged", async () => {
      const repository = `${source.prefix}/missing`;
      const operation = await target.importFails(
        { source: `${source.host}/${index.repository}:no-such-tag`, targetTags: [`${repository}:v1`], ...credentialsOf(source) },
        "SourceNotFound",
      );
      expect(operation.error?.message).toContain("no-such-tag");
      expect(await target.tags(repository)).toEqual([]);
    });

    if (kind !== "anonymous") {
      it("fails with AuthenticationFailed for a wrong password, without leaking it, leaving the target unchanged", async () => {
        const repository = `${source.prefix}/wrong-password`;
        const operation = await target.importFails({ source: ref(index), targetTags: [`${repository}:v1`], ...credentialsOf(source, WRONG) }, "AuthenticationFailed");
        expect(operation.error?.message.startsWith("Authentication failed"), operation.error?.message).toBe(true);
        expect(operation.error?.message).toContain(source.host);
        expect(JSON.stringify(operation)).not.toContain(WRONG.password);
        expect(JSON.stringify(await target.operation(operation.id))).not.toContain(WRONG.password);
        expect(await target.tags(repository)).toEqual([]);
        expect((await target.manifest(repository, index.digest)).status).toBe(404);
      });

      it("fails with AuthenticationFailed when the source asks for credentials and none were given", async () => {
        const repository = `${source.prefix}/no-credentials`;
        const operation = await target.importFails({ source: ref(single), targetTags: [`${repository}:v1`] }, "AuthenticationFailed");
        expect(operation.error?.message.startsWith("Authentication failed"), operation.error?.message).toBe(true);
        expect(await target.tags(repository)).toEqual([]);
      });

      it("never echoes the source password in the operation", async () => {
        const operation = await target.importOk({ source: ref(single), targetTags: [`${source.prefix}/echo:v1`], ...credentialsOf(source) });
        expect(JSON.stringify(operation)).not.toContain(IMPORTER.password);
        expect(JSON.stringify(await target.operation(operation.id))).not.toContain(IMPORTER.password);
      });
    }

    if (kind === "bearer") {
      it("follows the Bearer challenge to the source's token server", async () => {
        const before = bearerProxy.tokenRequests;
        await target.importOk({ source: ref(list), targetTags: [`${source.prefix}/via-token:v1`], ...credentialsOf(source) });
        expect(bearerProxy.tokenRequests).toBeGreaterThan(before);
        expect(bearerProxy.requestedScopes).toContain(`repository:${list.repository}:pull`);
        await target.expectImage(`${source.prefix}/via-token`, "v1", list);
      });
    }
  });

  describe("errors a person can act on", () => {
    it("fails with NotARegistry for a host that does not answer the Distribution API", async () => {
      const notRegistry = await startNotARegistry();
      try {
        const operation = await target.importFails({ source: `${notRegistry.host}/library/alpine:3.20`, targetTags: ["errors/not-a-registry:v1"] }, "NotARegistry");
        expect(operation.error?.message).toContain(notRegistry.host);
        expect(await target.tags("errors/not-a-registry")).toEqual([]);
      } finally {
        await notRegistry.stop();
      }
    });

    it("fails with SourceNotFound for a repository or digest the source does not have", async () => {
      const host = sources.anonymous.host;
      await target.importFails({ source: `${host}/never/pushed:v1`, targetTags: ["errors/missing-repo:v1"] }, "SourceNotFound");
      await target.importFails({ source: `${host}/anon-src/multi@sha256:${"0".repeat(64)}`, targetTags: ["errors/missing-digest:v1"] }, "SourceNotFound");
      expect(await target.tags("errors/missing-repo")).toEqual([]);
      expect(await target.tags("errors/missing-digest")).toEqual([]);
    });

    it.each([
      ["a source that is not a reference", { source: "Not A Reference!!", targetTags: ["errors/bad:v1"] }],
      ["a target without a tag", { source: "anon/multi:v1", targetTags: ["errors/bad"] }],
      ["an unknown mode", { source: "anon/multi:v1", targetTags: ["errors/bad:v1"], mode: "Sometimes" }],
    ])("answers 400 InvalidRequest at once for %s", async (_what, body) => {
      const response = await target.import(body);
      expect(response.status, JSON.stringify(response.body)).toBe(400);
      expect(response.body.error.code).toBe("InvalidRequest");
    });

    it("answers 401 without the admin key", async () => {
      const response = await new ManagementClient(target.stack.registryUrl, "not-the-admin-key").call("POST", "import", { source: "anon/multi:v1" });
      expect(response.status).toBe(401);
    });
  });

  describe("cloud to cloud", () => {
    it("imports a repository of this registry into another, by tag and by digest", async () => {
      const image = await seeder.ociIndex(sources.anonymous, "c2c-src/app", "v1");
      await target.importOk({ source: `${sources.anonymous.host}/c2c-src/app:v1`, targetTags: ["c2c/dev:v1"] });

      const byTag = await target.importOk({ source: "c2c/dev:v1", targetTags: ["c2c/prod:v1", "c2c/prod:stable"] });
      expect(byTag.digest).toBe(image.digest);
      expect(await target.tags("c2c/prod")).toEqual(["stable", "v1"]);
      await target.expectImage("c2c/prod", "v1", image);
      await target.expectImage("c2c/prod", "stable", image);

      await target.importOk({ source: `c2c/dev@${image.digest}`, targetTags: ["c2c/pinned:v1"] });
      await target.expectImage("c2c/pinned", "v1", image);
      // Every blob was already in this registry.
      expect(byTag.progress.bytesCopied).toBe(0);
    });

    it("fails with SourceNotFound for a tag this registry does not have", async () => {
      await target.importFails({ source: "c2c/dev:no-such-tag", targetTags: ["c2c/nothing:v1"] }, "SourceNotFound");
      expect(await target.tags("c2c/nothing")).toEqual([]);
    });
  });

  describe("polling an operation", () => {
    it("answers 202 with Location, and the operation goes Running -> Succeeded with progress in bytes and blobs", async () => {
      const push = new DistributionPusher(sources.anonymous.pushUrl, undefined);
      const image = await push.randomImage("poll-src/app", "v1", 4, 4 * MIB);
      const blobBytes = [...image.blobs.values()].reduce((sum, bytes) => sum + bytes.length, 0);

      const response = await fetch(`${target.stack.registryUrl}/management/import`, {
        method: "POST",
        headers: { Authorization: `Bearer ${TEST_ADMIN_KEY}`, "Content-Type": "application/json" },
        body: JSON.stringify({ source: `${sources.anonymous.host}/poll-src/app:v1`, targetTags: ["poll/app:v1"], wait: false }),
      });
      expect(response.status).toBe(202);
      const accepted = (await response.json()) as Operation;
      expect(accepted.id).toMatch(/^imp-/);
      expect(response.headers.get("location")).toBe(`/management/operations/${accepted.id}`);
      expect(accepted).toMatchObject({ kind: "import", status: "Running", source: `${sources.anonymous.host}/poll-src/app:v1`, targetTags: ["poll/app:v1"], mode: "NoForce", error: null, endedAt: null });

      const seen: Operation[] = [accepted];
      let operation = accepted;
      const deadline = Date.now() + 60_000;
      while (operation.status === "Running") {
        if (Date.now() > deadline) throw new Error(`still Running after 60 s: ${JSON.stringify(operation)}`);
        await sleep(50);
        operation = await target.operation(accepted.id);
        seen.push(operation);
      }
      expect(operation.status, JSON.stringify(operation.error)).toBe("Succeeded");
      expect(operation.digest).toBe(image.digest);
      expect(operation.endedAt).toEqual(expect.any(String));
      // Progress never goes back while it runs.
      for (let i = 1; i < seen.length; i++) expect(seen[i]!.progress.bytesCopied).toBeGreaterThanOrEqual(seen[i - 1]!.progress.bytesCopied);
      expect(operation.progress).toEqual({ bytesCopied: blobBytes, bytesTotal: blobBytes, blobsCopied: image.blobs.size, blobsTotal: image.blobs.size, blobsSkipped: 0 });
      await target.expectImage("poll/app", "v1", image);

      // The same image again: every blob is already in the registry, so none is copied.
      const again = await target.importOk({ source: `${sources.anonymous.host}/poll-src/app:v1`, targetTags: ["poll/again:v1"] });
      expect(again.progress).toMatchObject({ bytesCopied: 0, blobsCopied: 0, blobsSkipped: image.blobs.size, blobsTotal: image.blobs.size });
      await target.expectImage("poll/again", "v1", image);
    });

    it("answers 404 for an operation that does not exist", async () => {
      const response = await target.management.call("GET", "operations/imp-does-not-exist");
      expect(response.status).toBe(404);
    });
  });

  describe("a restart of the stack mid-import", () => {
    it("completes the operation after the restart, every blob digest-correct and no duplicate tags", { timeout: 600_000 }, async () => {
      const push = new DistributionPusher(sources.anonymous.pushUrl, undefined);
      const image = await push.randomImage("restart-src/big", "v1", 3, 32 * MIB);
      // A slow link (~5 s for the image) so the stop surely lands mid-copy.
      const slow = await startSlowProxy(sources.anonymous.pushUrl, 20 * MIB);
      const source = `${slow.host}/restart-src/big:v1`;
      const dataDir = await mkdtemp(join(tmpdir(), "import-restart-"));
      let first: TestStack | undefined;
      let second: TestStack | undefined;
      try {
        first = await startTestStack({ anonymous: false, dataDir });
        const before = new Target(first);
        const accepted = await before.import({ source, targetTags: ["restart/big:v1"], wait: false });
        expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
        const id = (accepted.body as Operation).id;

        // Stop as soon as some bytes are in, well before the last blob.
        const deadline = Date.now() + 60_000;
        let seen = accepted.body as Operation;
        while (seen.progress.bytesCopied === 0) {
          if (seen.status !== "Running") throw new Error(`the import ended before the restart: ${JSON.stringify(seen)}`);
          if (Date.now() > deadline) throw new Error(`no progress after 60 s: ${JSON.stringify(seen)}`);
          await sleep(20);
          seen = await before.operation(id);
        }
        await first.stop();
        first = undefined;

        second = await startTestStack({ anonymous: false, dataDir });
        const after = new Target(second);
        await after.createChecker("checker-after-restart");
        let operation = await after.operation(id);
        // The stop really came mid-import: the restarted stack finds it still running, part-way.
        expect(operation.status).toBe("Running");
        expect(operation.progress.bytesCopied).toBeLessThan(operation.progress.bytesTotal);
        const resumeDeadline = Date.now() + 540_000;
        while (operation.status === "Running") {
          if (Date.now() > resumeDeadline) throw new Error(`still Running 9 minutes after the restart: ${JSON.stringify(operation)}`);
          await sleep(250);
          operation = await after.operation(id);
        }
        expect(operation.status, JSON.stringify(operation.error)).toBe("Succeeded");
        expect(operation.digest).toBe(image.digest);
        expect(operation.progress.blobsTotal).toBe(image.blobs.size);
        expect(operation.progress.blobsCopied + operation.progress.blobsSkipped).toBe(image.blobs.size);
        expect(operation.progress.bytesCopied).toBeLessThanOrEqual(operation.progress.bytesTotal);

        const tagList = await after.v2("restart/big/tags/list");
        expect(tagList.status).toBe(200);
        expect(((await tagList.json()) as { tags: string[] }).tags).toEqual(["v1"]);
        await after.expectImage("restart/big", "v1", image);
      } finally {
        await first?.stop();
        await second?.stop();
        await slow.stop();
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });
});
