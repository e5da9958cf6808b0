/**
 * The edge agent's local stores (edge-agent/src/store) under the SHARED registry engine:
 * the same OCI Distribution code the cloud runs, served over files in a temp folder and
 * driven over real HTTP. Also unit tests for what only the edge stores do: resumable
 * partial downloads, the change log file surviving a torn last line, upload versions.
 * Everything is imported from dist/ (run `npx tsc -p tsconfig.json` first), so the
 * engine and the stores share one copy of the error classes.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFile, mkdtemp, readFile, readdir, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient, OCI_INDEX, OCI_MANIFEST, sha256 } from "../support/registry-client.js";
import { readLayoutBlobs, readLayoutIndex, sha256Digest, writeMultiArchOciLayout, OCI_INDEX_MEDIA_TYPE, OCI_REF_NAME_ANNOTATION } from "../support/oci-layout.js";
import { startLocalHost } from "../../dist/shared/http/local-host.js";
import { createV2Handler } from "../../dist/shared/registry/v2-handler.js";
import { ConcurrentUpdateError } from "../../dist/shared/store/interfaces.js";
import { SequenceTakenError } from "../../dist/shared/store/change-store.js";
import { DigestMismatchError, FsBlobStore } from "../../dist/edge-agent/src/store/fs-blob-store.js";
import { FsChangeStore } from "../../dist/edge-agent/src/store/fs-change-store.js";
import { FsMetadataStore } from "../../dist/edge-agent/src/store/fs-metadata-store.js";
import { fileRegistryContext } from "../support/edge-registry.js";
import { failFileHandles, openFilesUnder } from "../support/open-files.js";

const execFileAsync = promisify(execFile);

interface Edge {
  url: string;
  registry: RegistryClient;
  metadata: FsMetadataStore;
  blobs: FsBlobStore;
  changeStore: FsChangeStore;
  close(): Promise<void>;
}

/** What the edge agent's composition will do: the shared engine over the file stores in `dir`. */
async function startEdge(dir: string): Promise<Edge> {
  const metadata = new FsMetadataStore(join(dir, "metadata"));
  const blobs = new FsBlobStore(dir);
  const changeStore = await FsChangeStore.open(dir);
  const ctx = await fileRegistryContext(metadata, blobs, changeStore);
  const host = await startLocalHost(
    [{ name: "v2", route: "v2/{*path}", methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], handler: createV2Handler(ctx, () => undefined) }],
    [],
    { host: "127.0.0.1", port: 0, log: () => undefined },
  );
  return {
    url: host.url,
    registry: new RegistryClient(host.url),
    metadata,
    blobs,
    changeStore,
    async close() {
      await host.close();
      await changeStore.close();
    },
  };
}

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

async function* chunksOf(...parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield part;
}

describe("the shared registry engine over the edge's file stores", () => {
  let dir: string;
  let edge: Edge;
  const repo = "edge/app";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "edge-stores-"));
    edge = await startEdge(dir);
  });
  afterAll(async () => {
    await edge?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("takes a monolithic upload and serves it back, with HEAD and Range", async () => {
    const bytes = randomBytes(5000);
    const digest = await edge.registry.pushBlob(repo, bytes);
    const head = await edge.registry.fetch(`/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("5000");
    expect(head.headers.get("docker-content-digest")).toBe(digest);

    const get = await edge.registry.getBlob(repo, digest);
    expect(get.status).toBe(200);
    expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);

    const ranged = await edge.registry.getBlob(repo, digest, { Range: "bytes=100-1099" });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe("bytes 100-1099/5000");
    expect(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(100, 1100))).toBe(true);

    // Content-addressed on disk, and no staged block left behind (one block: committed by rename).
    expect((await readFile(join(dir, "blobs", "sha256", digest.slice(7)))).equals(bytes)).toBe(true);
    expect(await filesUnder(join(dir, "staging"))).toEqual([]);
    expect(await edge.blobs.readUrl(digest)).toBeUndefined();
  });

  it("stores the empty blob", async () => {
    const digest = await edge.registry.pushBlob(repo, new Uint8Array(0));
    const get = await edge.registry.getBlob(repo, digest);
    expect(get.status).toBe(200);
    expect((await get.arrayBuffer()).byteLength).toBe(0);
  });

  it("rejects a monolithic upload whose digest is wrong, and nothing reaches the content address", async () => {
    const claimed = sha256("something else");
    const response = await edge.registry.fetch(`/v2/${repo}/blobs/uploads/?digest=${claimed}`, { method: "POST", body: randomBytes(100) });
    expect(response.status).toBe(400);
    expect(await edge.blobs.stat(claimed)).toBeUndefined();
    // Its staged block stays until the staging sweep (the cloud's storage drops uncommitted blocks itself).
    expect(await filesUnder(join(dir, "staging"))).toHaveLength(1);
    expect(await edge.blobs.purgeStaging(new Date(Date.now() - 60_000))).toBe(0);
    expect(await edge.blobs.purgeStaging(new Date(Date.now() + 1000))).toBe(1);
    expect(await filesUnder(join(dir, "staging"))).toEqual([]);
  });

  it("assembles a chunked upload from PATCHes and a final PUT with a last chunk", async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const parts = [bytes.subarray(0, 1_000_000), bytes.subarray(1_000_000, 2_500_000), bytes.subarray(2_500_000, 3_000_000)];
    const last = bytes.subarray(3_000_000);
    const start = await edge.registry.fetch(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
    expect(start.status).toBe(202);
    let location = start.headers.get("location")!;
    let offset = 0;
    for (const part of parts) {
      const patch = await edge.registry.fetch(location, {
        method: "PATCH",
        headers: { "Content-Type": "application/octet-stream", "Content-Range": `${offset}-${offset + part.length - 1}` },
        body: part,
      });
      expect(patch.status).toBe(202);
      offset += part.length;
      expect(patch.headers.get("range")).toBe(`0-${offset - 1}`);
      location = patch.headers.get("location")!;
    }
    // An out-of-order chunk is refused with the current range.
    const wrong = await edge.registry.fetch(location, { method: "PATCH", headers: { "Content-Range": "0-9" }, body: randomBytes(10) });
    expect(wrong.status).toBe(416);

    const digest = sha256(bytes);
    const put = await edge.registry.fetch(`${location}?digest=${digest}`, {
      method: "PUT",
      headers: { "Content-Range": `${offset}-${offset + last.length - 1}` },
      body: last,
    });
    expect(put.status).toBe(201);
    const get = await edge.registry.getBlob(repo, digest);
    expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
    // The upload's scratch space is gone once it is promoted.
    expect(await filesUnder(join(dir, "uploads"))).toEqual([]);
    expect((await filesUnder(join(dir, "staging"))).filter((path) => path.includes("upload-"))).toEqual([]);
  });

  it("discards a chunked upload whose digest is wrong", async () => {
    const start = await edge.registry.fetch(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
    const location = start.headers.get("location")!;
    await edge.registry.fetch(location, { method: "PATCH", body: randomBytes(1000) });
    const put = await edge.registry.fetch(`${location}?digest=${sha256("not it")}`, { method: "PUT" });
    expect(put.status).toBe(400);
    expect(await filesUnder(join(dir, "uploads"))).toEqual([]);
    expect((await edge.registry.fetch(location)).status).toBe(404);
  });

  let image: { manifest: Buffer; digest: string };

  it("stores a manifest by tag and serves the exact bytes by tag and by digest", async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layer = randomBytes(2048);
    const configDigest = await edge.registry.pushBlob(repo, config);
    const layerDigest = await edge.registry.pushBlob(repo, layer);
    // Odd whitespace: any re-serialization would change the digest.
    const manifest = Buffer.from(
      `{ "schemaVersion": 2,\n  "mediaType": "${OCI_MANIFEST}",\n  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "${configDigest}", "size": ${config.length}},\n  "layers": [ {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "${layerDigest}", "size": ${layer.length}} ] }\n`,
    );
    const put = await edge.registry.putManifest(repo, "v1", manifest);
    expect(put.status).toBe(201);
    image = { manifest, digest: sha256(manifest) };
    expect(put.headers.get("docker-content-digest")).toBe(image.digest);

    for (const reference of ["v1", image.digest]) {
      const get = await edge.registry.fetch(`/v2/${repo}/manifests/${reference}`, { headers: { Accept: OCI_MANIFEST } });
      expect(get.status).toBe(200);
      expect(get.headers.get("content-type")).toBe(OCI_MANIFEST);
      expect(get.headers.get("docker-content-digest")).toBe(image.digest);
      expect(Buffer.from(await get.arrayBuffer()).equals(manifest)).toBe(true);
      const head = await edge.registry.fetch(`/v2/${repo}/manifests/${reference}`, { method: "HEAD", headers: { Accept: OCI_MANIFEST } });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe(String(manifest.length));
    }
    // The store hands back a Uint8Array with the same bytes.
    const record = await edge.metadata.getTaggedManifest(repo, "v1");
    expect(record?.content).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(record!.content!).equals(manifest)).toBe(true);
  });

  it("lists tags sorted and paged, with a Link to the next page", async () => {
    for (const tag of ["v2", "latest", "v10", "alpha", "V3"]) expect((await edge.registry.putManifest(repo, tag, image.manifest)).status).toBe(201);
    const all = ["V3", "alpha", "latest", "v1", "v10", "v2"];
    const whole = await edge.registry.fetch(`/v2/${repo}/tags/list`);
    expect(await whole.json()).toEqual({ name: repo, tags: all });

    const first = await edge.registry.fetch(`/v2/${repo}/tags/list?n=4`);
    expect(((await first.json()) as { tags: string[] }).tags).toEqual(all.slice(0, 4));
    const link = first.headers.get("link")!;
    expect(link).toMatch(/last=v1>/);
    const next = await edge.registry.fetch(/<([^>]+)>/.exec(link)![1]!);
    expect(((await next.json()) as { tags: string[] }).tags).toEqual(all.slice(4));
    expect(next.headers.get("link")).toBeNull();
  });

  it("lists repositories sorted and paged", async () => {
    for (const name of ["edge/zeta", "alpha/one", "edge/app/nested", "beta"]) await edge.registry.pushBlob(name, Buffer.from(name));
    const expected = ["alpha/one", "beta", "edge/app", "edge/app/nested", "edge/zeta"];
    const whole = await edge.registry.fetch("/v2/_catalog");
    expect(await whole.json()).toEqual({ repositories: expected });
    const first = await edge.registry.fetch("/v2/_catalog?n=2");
    expect(((await first.json()) as { repositories: string[] }).repositories).toEqual(expected.slice(0, 2));
    const second = await edge.registry.fetch(/<([^>]+)>/.exec(first.headers.get("link")!)![1]!);
    expect(((await second.json()) as { repositories: string[] }).repositories).toEqual(expected.slice(2, 4));
    // A repository's folder holds a nested repository's folder, but is not one by itself.
    expect(await edge.metadata.repositoryExists("edge")).toBe(false);
  });

  let referrerDigest: string;

  it("lists referrers of a manifest", async () => {
    const emptyConfig = await edge.registry.pushBlob(repo, Buffer.from("{}"));
    const signature = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: "application/vnd.example.signature",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: emptyConfig, size: 2 },
      layers: [],
      subject: { mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length },
      annotations: { "org.example.signed-by": "test" },
    };
    const put = await edge.registry.putManifest(repo, sha256(JSON.stringify(signature)), Buffer.from(JSON.stringify(signature)));
    expect(put.status).toBe(201);
    referrerDigest = sha256(JSON.stringify(signature));
    const response = await edge.registry.fetch(`/v2/${repo}/referrers/${image.digest}`);
    expect(response.status).toBe(200);
    const index = (await response.json()) as { mediaType: string; manifests: Array<Record<string, unknown>> };
    expect(index.mediaType).toBe(OCI_INDEX);
    expect(index.manifests).toEqual([
      {
        mediaType: OCI_MANIFEST,
        digest: referrerDigest,
        size: JSON.stringify(signature).length,
        artifactType: "application/vnd.example.signature",
        annotations: { "org.example.signed-by": "test" },
      },
    ]);
    const none = await edge.registry.fetch(`/v2/${repo}/referrers/${sha256("no subject")}`);
    expect(((await none.json()) as { manifests: unknown[] }).manifests).toEqual([]);
  });

  it("answers an empty referrers index, not a 404, for a repository with no folder on disk", async () => {
    const response = await edge.registry.fetch(`/v2/edge/never-pushed/referrers/${sha256("nothing")}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe(OCI_INDEX);
    expect(await response.json()).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
  });

  it("deletes a manifest together with every tag that points at it, and its referrer entry", async () => {
    const other = await edge.registry.pushImage(repo, "keep");
    await edge.registry.putManifest(repo, "doomed-a", other.manifest);
    await edge.registry.putManifest(repo, "doomed-b", other.manifest);
    await edge.registry.fetch(`/v2/${repo}/manifests/keep`, { method: "DELETE" }); // a tag delete
    const del = await edge.registry.fetch(`/v2/${repo}/manifests/${other.digest}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    for (const reference of ["doomed-a", "doomed-b", other.digest]) {
      expect((await edge.registry.fetch(`/v2/${repo}/manifests/${reference}`)).status).toBe(404);
    }
    const tags = ((await (await edge.registry.fetch(`/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags;
    expect(tags).not.toContain("doomed-a");
    expect(tags).toContain("v1");

    const del2 = await edge.registry.fetch(`/v2/${repo}/manifests/${referrerDigest}`, { method: "DELETE" });
    expect(del2.status).toBe(202);
    const index = (await (await edge.registry.fetch(`/v2/${repo}/referrers/${image.digest}`)).json()) as { manifests: unknown[] };
    expect(index.manifests).toEqual([]);
  });

  it("keeps everything across a restart on the same folder, change log included", async () => {
    const before = await edge.changeStore.readAfter(0, 1000);
    const latest = await edge.changeStore.latestSequence();
    await edge.close();
    edge = await startEdge(dir);

    const get = await edge.registry.fetch(`/v2/${repo}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    expect(Buffer.from(await get.arrayBuffer()).equals(image.manifest)).toBe(true);
    expect(((await (await edge.registry.fetch(`/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags).toEqual([
      "V3",
      "alpha",
      "latest",
      "v1",
      "v10",
      "v2",
    ]);
    expect(((await (await edge.registry.fetch("/v2/_catalog")).json()) as { repositories: string[] }).repositories).toHaveLength(5);

    const after = await edge.changeStore.readAfter(0, 1000);
    expect(after).toEqual(before);
    expect(await edge.changeStore.latestSequence()).toBe(latest);
    // Every change the engine made is there, committed, in order.
    expect(after.every((e: { state: string }) => e.state === "committed")).toBe(true);
    expect(after.map((e: { seq: number }) => e.seq)).toEqual(after.map((_: unknown, i: number) => i + 1));
    const kinds = after.map((e: { kind: string; tag?: string; digest?: string }) => `${e.kind} ${e.tag ?? e.digest}`);
    expect(kinds).toContain(`tag.set v1`);
    expect(kinds).toContain(`tag.delete keep`);
    expect(kinds).toContain(`manifest.delete ${referrerDigest}`);
    expect(kinds).toContain(`manifest.put ${referrerDigest}`);

    // New numbers continue after the old ones.
    await edge.registry.putManifest(repo, "after-restart", image.manifest);
    const newest = await edge.changeStore.readAfter(latest, 10);
    expect(newest).toHaveLength(1);
    expect(newest[0]).toMatchObject({ seq: latest + 1, kind: "tag.set", tag: "after-restart", state: "committed" });
  });
});

describe("FsBlobStore", () => {
  let dir: string;
  let store: FsBlobStore;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "edge-blobs-"));
    store = new FsBlobStore(dir);
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it("resumes a partial download and moves it into place once verified", async () => {
    const bytes = randomBytes(300_000);
    const digest = sha256(bytes);
    expect(await store.partialSize(digest)).toBe(0);

    // The connection drops after 100 000 bytes: what arrived stays.
    async function* failing(): AsyncIterable<Uint8Array> {
      yield bytes.subarray(0, 60_000);
      yield bytes.subarray(60_000, 100_000);
      throw new Error("connection reset");
    }
    await expect(store.appendPartial(digest, failing())).rejects.toThrow("connection reset");
    expect(await store.partialSize(digest)).toBe(100_000);
    expect(await store.stat(digest)).toBeUndefined();

    // Resume from there.
    const size = await store.appendPartial(digest, chunksOf(bytes.subarray(100_000, 200_000), bytes.subarray(200_000)));
    expect(size).toBe(300_000);
    await store.completePartial(digest);
    expect(await store.partialSize(digest)).toBe(0);
    expect(await store.stat(digest)).toBe(300_000);
    let read = Buffer.alloc(0);
    for await (const chunk of await store.read(digest, { start: 10, end: 19 })) read = Buffer.concat([read, chunk]);
    expect(read.equals(bytes.subarray(10, 20))).toBe(true);
    expect(await store.totalBytes()).toBe(300_000);
  });

  it("deletes a partial download whose bytes do not match its digest", async () => {
    const digest = sha256("the real content");
    await store.appendPartial(digest, chunksOf(Buffer.from("tampered content")));
    const error = await store.completePartial(digest).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DigestMismatchError);
    expect(error).toMatchObject({ expected: digest, actual: sha256("tampered content") });
    expect(await store.partialSize(digest)).toBe(0);
    expect(await store.stat(digest)).toBeUndefined();
  });

  it("hashes what it writes, and hashes from the disk the bytes an earlier run wrote", async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const digest = sha256(bytes);
    // Two appends by this store: the hash fed while writing carries over from the first to the second.
    await store.appendPartial(digest, chunksOf(bytes.subarray(0, 1_500_000)));
    expect(await store.appendPartial(digest, chunksOf(bytes.subarray(1_500_000)))).toBe(bytes.length);
    await store.completePartial(digest);
    expect(await store.stat(digest)).toBe(bytes.length);

    // A partial another store (an earlier run) began, with wrong bytes: this store did not see
    // them written, so it must not trust its own hash of the rest.
    const other = randomBytes(200_000);
    const otherDigest = sha256(other);
    await new FsBlobStore(dir).appendPartial(otherDigest, chunksOf(Buffer.alloc(100_000)));
    await store.appendPartial(otherDigest, chunksOf(other.subarray(100_000)));
    await expect(store.completePartial(otherDigest)).rejects.toBeInstanceOf(DigestMismatchError);
    // The right bytes from the earlier run and the rest from this one.
    await new FsBlobStore(dir).appendPartial(otherDigest, chunksOf(other.subarray(0, 100_000)));
    await store.appendPartial(otherDigest, chunksOf(other.subarray(100_000)));
    await store.completePartial(otherDigest);
    expect(await store.stat(otherDigest)).toBe(200_000);
  });

  it("verifies sha512 partial downloads with sha512", async () => {
    const bytes = randomBytes(1000);
    const { createHash } = await import("node:crypto");
    const digest = `sha512:${createHash("sha512").update(bytes).digest("hex")}`;
    await store.appendPartial(digest, chunksOf(bytes));
    await store.completePartial(digest);
    expect(await store.stat(digest)).toBe(1000);
    await store.appendPartial(sha256(bytes), chunksOf(bytes));
    await store.discardPartial(sha256(bytes));
    expect(await store.partialSize(sha256(bytes))).toBe(0);
  });

  it("closes the partial file when an append fails before its first byte (the size of the file cannot be read)", async () => {
    const digest = sha256("never written");
    const restore = await failFileHandles(dir, "stat", "EIO");
    try {
      // The sync retries a failed download: each attempt must give its descriptor back.
      for (let attempt = 0; attempt < 5; attempt++) await expect(store.appendPartial(digest, chunksOf(Buffer.from("x")))).rejects.toThrow("EIO");
    } finally {
      restore();
    }
    expect(openFilesUnder(dir)).toEqual([]);
    await store.discardPartial(digest);
  });

  it("commits exactly the listed blocks in order, and concurrent writers never share a block", async () => {
    const target = { kind: "upload" as const, id: "0b5c6c2e-1111-4222-8333-444455556666" };
    const [a, b] = await Promise.all([store.stage(target, chunksOf(Buffer.from("aaa"))), store.stage(target, chunksOf(Buffer.from("bbbb")))]);
    const c = await store.stage(target, chunksOf(Buffer.from("cc")));
    expect(new Set([...a.blockIds, ...b.blockIds, ...c.blockIds]).size).toBe(3);
    // b is left out: a writer that lost its race.
    await store.commit(target, [...c.blockIds, ...a.blockIds]);
    let read = "";
    for await (const chunk of await store.readUpload(target.id)) read += Buffer.from(chunk).toString();
    expect(read).toBe("ccaaa");
    // Committing again with one more block keeps the committed bytes (a retried final PUT).
    const d = await store.stage(target, chunksOf(Buffer.from("d")));
    await store.commit(target, [...c.blockIds, ...a.blockIds, ...d.blockIds]);
    read = "";
    for await (const chunk of await store.readUpload(target.id)) read += Buffer.from(chunk).toString();
    expect(read).toBe("ccaaad");
    await store.promoteUpload(target.id, sha256("ccaaad"));
    expect(await store.stat(sha256("ccaaad"))).toBe(6);
    await store.discardUpload(target.id);
    expect(await filesUnder(join(dir, "uploads"))).toEqual([]);
    expect(await filesUnder(join(dir, "staging"))).toEqual([]);
  });
});

describe("FsMetadataStore uploads", () => {
  it("refuses an update with a stale version", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edge-metadata-"));
    try {
      const store = new FsMetadataStore(dir);
      const created = await store.createUpload({ repository: "a/b", id: "0b5c6c2e-1111-4222-8333-444455556666", offset: 0, blockIds: [], startedAt: new Date(0).toISOString() });
      const updated = await store.updateUpload({ ...created, offset: 10, blockIds: ["x"] });
      expect(updated.version).not.toBe(created.version);
      await expect(store.updateUpload({ ...created, offset: 20 })).rejects.toBeInstanceOf(ConcurrentUpdateError);
      // Two racing updates from the same read: exactly one lands.
      const results = await Promise.allSettled([store.updateUpload({ ...updated, offset: 30 }), store.updateUpload({ ...updated, offset: 40 })]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      expect(results.filter((r) => r.status === "rejected" && r.reason instanceof ConcurrentUpdateError)).toHaveLength(1);
      // A new store instance (a restart) sees the same version.
      const reread = (await new FsMetadataStore(dir).getUpload("a/b", created.id))!;
      expect([30, 40]).toContain(reread.offset);
      expect(await store.listStaleUploads(new Date(), 10)).toHaveLength(1);
      await store.deleteUpload("a/b", created.id);
      await expect(store.updateUpload(reread)).rejects.toBeInstanceOf(ConcurrentUpdateError);
      expect(await store.listStaleUploads(new Date(), 10)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("FsChangeStore", () => {
  const entry = (seq: number, createdAt = new Date().toISOString()) => ({ seq, state: "pending" as const, createdAt, repository: "r", kind: "tag.set" as const, tag: `t${seq}` });

  it("ignores a torn last line and keeps appending after it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edge-changes-"));
    try {
      let store = await FsChangeStore.open(dir);
      for (let i = 0; i < 3; i++) {
        const seq = await store.nextSequence();
        await store.create(entry(seq));
        if (seq !== 2) await store.markCommitted(seq);
      }
      await store.close();
      // A crash in the middle of writing entry 4.
      await appendFile(join(dir, "changes.log"), '{"seq":4,"state":"pending","createdAt":"20');

      store = await FsChangeStore.open(dir);
      expect((await store.readAfter(0, 10)).map((e: { seq: number; state: string }) => `${e.seq}:${e.state}`)).toEqual(["1:committed", "2:pending", "3:committed"]);
      expect(await store.latestSequence()).toBe(3);
      expect(await store.nextSequence()).toBe(4);
      await store.create(entry(4));
      await expect(store.create(entry(4))).rejects.toBeInstanceOf(SequenceTakenError);
      await store.close();

      store = await FsChangeStore.open(dir);
      expect((await store.readRange(3, 5)).map((e: { seq: number }) => e.seq)).toEqual([3, 4]);
      expect((await readFile(join(dir, "changes.log"), "utf8")).split("\n").every((line) => line === "" || JSON.parse(line))).toBe(true);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps its epoch across restarts and purges; a lost log comes back with a new one, and startEpoch replaces it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edge-changes-"));
    try {
      let store = await FsChangeStore.open(dir);
      const { epoch } = await store.head();
      expect(epoch).toMatch(/^[A-Za-z0-9_-]{8,}$/);
      await store.create(entry(await store.nextSequence(), new Date(Date.now() - 86_400_000).toISOString()));
      await store.create(entry(await store.nextSequence()));
      await store.close();
      store = await FsChangeStore.open(dir);
      expect(await store.head()).toEqual({ seq: 2, epoch });
      expect(await store.deleteOlderThan(new Date(Date.now() - 3_600_000), 10)).toBe(1);
      await store.close();
      store = await FsChangeStore.open(dir);
      expect(await store.head()).toEqual({ seq: 2, epoch });
      const next = await store.startEpoch();
      expect(next).not.toBe(epoch);
      await store.close();
      store = await FsChangeStore.open(dir);
      expect(await store.head()).toEqual({ seq: 2, epoch: next });
      await store.close();

      // The data folder lost: a new log, a new epoch.
      await rm(join(dir, "changes.log"));
      store = await FsChangeStore.open(dir);
      const fresh = await store.head();
      expect(fresh.seq).toBe(0);
      expect([epoch, next]).not.toContain(fresh.epoch);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("closes the log file when opening it fails (its epoch cannot be written)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edge-changes-"));
    const restore = await failFileHandles(dir, "write", "ENOSPC");
    try {
      await expect(FsChangeStore.open(dir)).rejects.toThrow("ENOSPC");
      expect(openFilesUnder(dir)).toEqual([]);
    } finally {
      restore();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("purges old entries by rewriting the file, without ever reusing their numbers", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edge-changes-"));
    try {
      let store = await FsChangeStore.open(dir);
      const old = new Date(Date.now() - 86_400_000).toISOString();
      for (let seq = 1; seq <= 5; seq++) await store.create(entry(seq, seq <= 4 ? old : undefined));
      await store.markCommitted(5);
      // Concurrent appends while the file is rewritten must not be lost.
      const [removed] = await Promise.all([store.deleteOlderThan(new Date(Date.now() - 3_600_000), 3), store.create(entry(6)), store.markCommitted(5)]);
      expect(removed).toBe(3);
      expect((await store.readAfter(0, 10)).map((e: { seq: number }) => e.seq)).toEqual([4, 5, 6]);
      expect(await store.deleteOlderThan(new Date(Date.now() - 3_600_000), 10)).toBe(1);
      await store.close();

      store = await FsChangeStore.open(dir);
      expect((await store.readAfter(0, 10)).map((e: { seq: number; state: string }) => `${e.seq}:${e.state}`)).toEqual(["5:committed", "6:pending"]);
      expect(await store.deleteOlderThan(new Date(Date.now() + 1000), 10)).toBe(2);
      await store.close();
      store = await FsChangeStore.open(dir);
      expect(await store.latestSequence()).toBe(6);
      expect(await store.nextSequence()).toBe(7);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const hasSkopeo = await execFileAsync("skopeo", ["--version"]).then(
  () => true,
  () => false,
);

describe.skipIf(!hasSkopeo)("skopeo against the edge stores", () => {
  let dir: string;
  let edge: Edge;
  let configDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "edge-skopeo-"));
    edge = await startEdge(join(dir, "data"));
    configDir = join(dir, "skopeo-config");
    await mkdir(join(configDir, "registries.d"), { recursive: true });
    await writeFile(join(configDir, "auth.json"), "{}");
    await writeFile(join(configDir, "registries.conf"), "");
    await writeFile(join(configDir, "policy.json"), JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  });
  afterAll(async () => {
    await edge?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function skopeoCopy(source: string, destination: string): Promise<void> {
    await execFileAsync(
      "skopeo",
      [
        "--policy", join(configDir, "policy.json"),
        "--registries.d", join(configDir, "registries.d"),
        "copy", "--authfile", join(configDir, "auth.json"),
        "--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests", "--quiet", "--all",
        source, destination,
      ],
      { env: { ...process.env, REGISTRY_AUTH_FILE: join(configDir, "auth.json"), CONTAINERS_REGISTRIES_CONF: join(configDir, "registries.conf") }, timeout: 60_000 },
    );
  }

  it("copies a two-platform OCI index in and out with identical digests", async () => {
    const host = new URL(edge.url).host;
    const layout = await writeMultiArchOciLayout(join(dir, "src"), { tag: "v1", seed: "edge-stores" });
    await skopeoCopy(`oci:${layout.dir}:v1`, `docker://${host}/multiarch/app:v1`);
    const out = join(dir, "out");
    await skopeoCopy(`docker://${host}/multiarch/app:v1`, `oci:${out}:v1`);

    const tagged = (await readLayoutIndex(out)).filter((d) => d.annotations?.[OCI_REF_NAME_ANNOTATION] === "v1");
    expect(tagged).toHaveLength(1);
    expect(tagged[0]).toMatchObject({ mediaType: OCI_INDEX_MEDIA_TYPE, digest: layout.indexDigest });
    const pulled = await readLayoutBlobs(out);
    expect([...pulled.keys()].sort()).toEqual([...layout.blobs.keys()].sort());
    expect([...pulled.values()].map(sha256Digest).sort()).toEqual([...layout.blobs.keys()].sort());

    // Every blob and manifest is in the edge's content store or its metadata; the change log
    // has the index's tag and both platform manifests.
    const changes = await edge.changeStore.readAfter(0, 100);
    expect(changes.filter((e: { kind: string }) => e.kind === "manifest.put")).toHaveLength(2);
    expect(changes.filter((e: { kind: string }) => e.kind === "tag.set")).toHaveLength(1);
  });
});
