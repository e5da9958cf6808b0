import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OCI_INDEX, OCI_MANIFEST, RegistryClient, errorCode, sha256 } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

describe("manifests", () => {
  let stack: TestStack;
  let registry: RegistryClient;

  beforeAll(async () => {
    stack = await startTestStack();
    registry = new RegistryClient(stack.registryUrl);
  });
  afterAll(async () => stack?.destroy());

  it("serves a pushed manifest by tag and by digest with its type, digest and length", async () => {
    const image = await registry.pushImage("manifests/basic", "v1");
    for (const reference of ["v1", image.digest]) {
      const response = await registry.fetch(`/v2/manifests/basic/manifests/${reference}`, { headers: { Accept: OCI_MANIFEST } });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe(OCI_MANIFEST);
      expect(response.headers.get("docker-content-digest")).toBe(image.digest);
      expect(response.headers.get("content-length")).toBe(String(image.manifest.length));
      expect(Buffer.from(await response.arrayBuffer()).equals(image.manifest)).toBe(true);
    }
    const head = await registry.fetch("/v2/manifests/basic/manifests/v1", { method: "HEAD", headers: { Accept: OCI_MANIFEST } });
    expect(head.status).toBe(200);
    expect(head.headers.get("docker-content-digest")).toBe(image.digest);
  });

  it("answers the PUT with Location and Docker-Content-Digest", async () => {
    const config = await registry.pushBlob("manifests/put-headers", Buffer.from("{}"));
    const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config, size: 2 }, layers: [] };
    const response = await registry.putManifest("manifests/put-headers", "latest", manifest);
    const digest = sha256(JSON.stringify(manifest));
    expect(response.status).toBe(201);
    expect(response.headers.get("location")).toBe(`/v2/manifests/put-headers/manifests/${digest}`);
    expect(response.headers.get("docker-content-digest")).toBe(digest);
  });

  it("follows Accept: a client that does not take the manifest's type gets MANIFEST_UNKNOWN", async () => {
    await registry.pushImage("manifests/accept", "v1");
    const refused = await registry.fetch("/v2/manifests/accept/manifests/v1", { headers: { Accept: DOCKER_MANIFEST } });
    expect(refused.status).toBe(404);
    expect(await errorCode(refused)).toBe("MANIFEST_UNKNOWN");
    const wildcard = await registry.fetch("/v2/manifests/accept/manifests/v1", { headers: { Accept: "*/*" } });
    expect(wildcard.status).toBe(200);
  });

  it("stores a Docker schema 2 manifest and manifest list byte for byte", async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layer = randomBytes(300);
    const configDigest = await registry.pushBlob("manifests/docker", config);
    const layerDigest = await registry.pushBlob("manifests/docker", layer);
    // Docker's own indentation, kept as-is: the digest covers these exact bytes.
    const manifest = Buffer.from(
      JSON.stringify(
        {
          schemaVersion: 2,
          mediaType: DOCKER_MANIFEST,
          config: { mediaType: "application/vnd.docker.container.image.v1+json", size: config.length, digest: configDigest },
          layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: layer.length, digest: layerDigest }],
        },
        null,
        3,
      ),
    );
    expect((await registry.putManifest("manifests/docker", "v1", manifest, DOCKER_MANIFEST)).status).toBe(201);
    const list = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: DOCKER_LIST,
        manifests: [{ mediaType: DOCKER_MANIFEST, size: manifest.length, digest: sha256(manifest), platform: { architecture: "amd64", os: "linux" } }],
      }),
    );
    expect((await registry.putManifest("manifests/docker", "multi", list, DOCKER_LIST)).status).toBe(201);
    const got = await registry.fetch("/v2/manifests/docker/manifests/v1", { headers: { Accept: `${DOCKER_MANIFEST}, ${DOCKER_LIST}` } });
    expect(got.headers.get("content-type")).toBe(DOCKER_MANIFEST);
    expect(Buffer.from(await got.arrayBuffer()).equals(manifest)).toBe(true);
    const gotList = await registry.fetch("/v2/manifests/docker/manifests/multi", { headers: { Accept: DOCKER_LIST } });
    expect(gotList.headers.get("docker-content-digest")).toBe(sha256(list));
  });

  it("refuses a manifest that names a blob the repository lacks, and stores nothing", async () => {
    const config = await registry.pushBlob("manifests/missing-blob", Buffer.from("{}"));
    const missing = sha256(randomBytes(32));
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config, size: 2 },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: missing, size: 32 }],
    };
    const response = await registry.putManifest("manifests/missing-blob", "v1", manifest);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]!.code).toBe("MANIFEST_BLOB_UNKNOWN");
    expect(body.errors[0]!.message).toContain(missing);
    expect((await registry.fetch("/v2/manifests/missing-blob/manifests/v1")).status).toBe(404);
    expect((await registry.fetch(`/v2/manifests/missing-blob/manifests/${sha256(JSON.stringify(manifest))}`)).status).toBe(404);
  });

  it("refuses an index whose child manifest is not in the repository", async () => {
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256("absent"), size: 10 }] };
    const response = await registry.putManifest("manifests/missing-child", "v1", index, OCI_INDEX);
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("MANIFEST_BLOB_UNKNOWN");
  });

  it("refuses malformed manifests with MANIFEST_INVALID", async () => {
    for (const body of [Buffer.from("not json"), Buffer.from("[]"), Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }))]) {
      const response = await registry.putManifest("manifests/malformed", "v1", body);
      expect(response.status).toBe(400);
      expect(await errorCode(response)).toBe("MANIFEST_INVALID");
    }
    expect((await registry.fetch("/v2/manifests/malformed/tags/list")).status).toBe(404);
  });

  it("refuses a manifest over 4 MiB with 413", async () => {
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const response = await registry.putManifest("manifests/huge", "v1", huge);
    expect(response.status).toBe(413);
    expect(await errorCode(response)).toBe("MANIFEST_INVALID");
    expect((await registry.fetch("/v2/manifests/huge/manifests/v1")).status).toBe(404);
  });

  it("refuses a PUT by digest whose body has another digest", async () => {
    const image = await registry.pushImage("manifests/by-digest", "v1");
    const wrong = sha256("other");
    const response = await registry.putManifest("manifests/by-digest", wrong, image.manifest);
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("DIGEST_INVALID");
    expect((await registry.fetch(`/v2/manifests/by-digest/manifests/${wrong}`)).status).toBe(404);
  });

  it("keeps a large manifest (over 1 MiB) whole", async () => {
    const config = await registry.pushBlob("manifests/large", Buffer.from("{}"));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config, size: 2 },
        layers: [],
        annotations: { padding: "x".repeat(2 * 1024 * 1024) },
      }),
    );
    expect((await registry.putManifest("manifests/large", "v1", manifest)).status).toBe(201);
    const got = await registry.fetch("/v2/manifests/large/manifests/v1");
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(manifest));
  });

  it("moves a tag to a newer manifest", async () => {
    await registry.pushImage("manifests/moving", "latest");
    const second = await registry.pushImage("manifests/moving", "latest");
    const got = await registry.fetch("/v2/manifests/moving/manifests/latest", { method: "HEAD" });
    expect(got.headers.get("docker-content-digest")).toBe(second.digest);
  });

  it("deletes a manifest by digest together with the tags on it", async () => {
    const image = await registry.pushImage("manifests/deleting", "v1");
    const response = await registry.fetch(`/v2/manifests/deleting/manifests/${image.digest}`, { method: "DELETE" });
    expect(response.status).toBe(202);
    expect((await registry.fetch(`/v2/manifests/deleting/manifests/${image.digest}`)).status).toBe(404);
    expect((await registry.fetch("/v2/manifests/deleting/manifests/v1")).status).toBe(404);
    const tags = (await (await registry.fetch("/v2/manifests/deleting/tags/list")).json()) as { tags: string[] };
    expect(tags.tags).toEqual([]);
  });

  it("deletes only the tag when DELETE names a tag", async () => {
    const image = await registry.pushImage("manifests/untag", "v1");
    expect((await registry.fetch("/v2/manifests/untag/manifests/v1", { method: "DELETE" })).status).toBe(202);
    expect((await registry.fetch("/v2/manifests/untag/manifests/v1")).status).toBe(404);
    expect((await registry.fetch(`/v2/manifests/untag/manifests/${image.digest}`)).status).toBe(200);
  });

  it("answers MANIFEST_UNKNOWN for an unknown tag and digest", async () => {
    const byTag = await registry.fetch("/v2/manifests/nothing/manifests/v9");
    expect(byTag.status).toBe(404);
    expect(await errorCode(byTag)).toBe("MANIFEST_UNKNOWN");
  });
});

describe("manifest references no manifest can have", () => {
  let stack: TestStack;
  let registry: RegistryClient;

  beforeAll(async () => {
    stack = await startTestStack();
    registry = new RegistryClient(stack.registryUrl);
    await registry.pushImage("manifests/references", "v1");
  });
  afterAll(async () => stack?.destroy());

  // Neither a tag nor a digest: a client asking whether such a manifest exists (HEAD before
  // a push, a GET by a name a user typed) must hear "absent" as for any missing manifest, as
  // distribution answers, not a 400 that reads as a broken request.
  const impossible = ["-dash", ".dot", "x".repeat(129), "sha256:short", `sha256:${"A".repeat(64)}`, `md5:${"0".repeat(32)}`];

  it.each(impossible)("answers GET, HEAD and DELETE of %s with 404 MANIFEST_UNKNOWN", async (reference) => {
    const path = `/v2/manifests/references/manifests/${encodeURIComponent(reference)}`;
    const get = await registry.fetch(path, { headers: { Accept: OCI_MANIFEST } });
    expect(get.status).toBe(404);
    expect(await get.json()).toMatchObject({ errors: [{ code: "MANIFEST_UNKNOWN", detail: { name: "manifests/references", reference } }] });
    expect((await registry.fetch(path, { method: "HEAD", headers: { Accept: OCI_MANIFEST } })).status).toBe(404);
    const remove = await registry.fetch(path, { method: "DELETE" });
    expect(remove.status).toBe(404);
    expect(await errorCode(remove)).toBe("MANIFEST_UNKNOWN");
  });

  it("still refuses a PUT to an invalid tag (400 MANIFEST_INVALID) or an invalid digest (400 DIGEST_INVALID), and stores nothing", async () => {
    const image = await registry.pushImage("manifests/references", "v2");
    const toTag = await registry.putManifest("manifests/references", "-dash", image.manifest);
    expect(toTag.status).toBe(400);
    expect(await errorCode(toTag)).toBe("MANIFEST_INVALID");
    const toDigest = await registry.putManifest("manifests/references", "sha256:short", image.manifest);
    expect(toDigest.status).toBe(400);
    expect(await errorCode(toDigest)).toBe("DIGEST_INVALID");
    const tags = (await (await registry.fetch("/v2/manifests/references/tags/list")).json()) as { tags: string[] };
    expect(tags.tags.sort()).toEqual(["v1", "v2"]);
  });
});

describe("referrers", () => {
  let stack: TestStack;
  let registry: RegistryClient;

  beforeAll(async () => {
    stack = await startTestStack();
    registry = new RegistryClient(stack.registryUrl);
  });
  afterAll(async () => stack?.destroy());

  async function pushArtifact(repository: string, subject: { digest: string; size: number }, artifactType: string): Promise<{ digest: string; response: Response }> {
    const empty = await registry.pushBlob(repository, Buffer.from("{}"));
    const blob = await registry.pushBlob(repository, randomBytes(50));
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 },
      layers: [{ mediaType: "application/octet-stream", digest: blob, size: 50 }],
      subject: { mediaType: OCI_MANIFEST, ...subject },
      annotations: { "org.example.kind": artifactType },
    };
    const body = Buffer.from(JSON.stringify(manifest));
    const response = await registry.putManifest(repository, sha256(body), body);
    return { digest: sha256(body), response };
  }

  it("lists the artifacts that refer to a manifest, filtered by artifactType", async () => {
    const image = await registry.pushImage("referrers/app", "v1");
    const subject = { digest: image.digest, size: image.manifest.length };
    const signature = await pushArtifact("referrers/app", subject, "application/vnd.example.signature");
    expect(signature.response.status).toBe(201);
    expect(signature.response.headers.get("oci-subject")).toBe(image.digest);
    const sbom = await pushArtifact("referrers/app", subject, "application/spdx+json");

    const all = await registry.fetch(`/v2/referrers/app/referrers/${image.digest}`);
    expect(all.status).toBe(200);
    expect(all.headers.get("content-type")).toBe(OCI_INDEX);
    const index = (await all.json()) as { mediaType: string; manifests: Array<{ digest: string; artifactType: string; annotations: Record<string, string> }> };
    expect(index.mediaType).toBe(OCI_INDEX);
    expect(index.manifests.map((m) => m.digest).sort()).toEqual([signature.digest, sbom.digest].sort());
    expect(index.manifests.find((m) => m.digest === sbom.digest)?.annotations["org.example.kind"]).toBe("application/spdx+json");

    const filtered = await registry.fetch(`/v2/referrers/app/referrers/${image.digest}?artifactType=application/spdx%2Bjson`);
    expect(filtered.headers.get("oci-filters-applied")).toBe("artifactType");
    const filteredIndex = (await filtered.json()) as { manifests: Array<{ digest: string }> };
    expect(filteredIndex.manifests.map((m) => m.digest)).toEqual([sbom.digest]);
  });

  it("deletes an image's referrers, and theirs, with the image (each a manifest.delete the edges follow)", async () => {
    const image = await registry.pushImage("referrers/cascade", "v1");
    const sbom = await pushArtifact("referrers/cascade", { digest: image.digest, size: image.manifest.length }, "application/spdx+json");
    const sbomSize = (await (await registry.fetch(`/v2/referrers/cascade/manifests/${sbom.digest}`, { headers: { Accept: OCI_MANIFEST } })).arrayBuffer()).byteLength;
    const signature = await pushArtifact("referrers/cascade", { digest: sbom.digest, size: sbomSize }, "application/vnd.example.signature");
    const other = await registry.pushImage("referrers/cascade", "v2");
    const kept = await pushArtifact("referrers/cascade", { digest: other.digest, size: other.manifest.length }, "application/vnd.example.signature");

    expect((await registry.fetch(`/v2/referrers/cascade/manifests/${image.digest}`, { method: "DELETE" })).status).toBe(202);
    for (const gone of [sbom.digest, signature.digest]) {
      expect((await registry.fetch(`/v2/referrers/cascade/manifests/${gone}`, { method: "HEAD", headers: { Accept: OCI_MANIFEST } })).status).toBe(404);
    }
    const listed = (await (await registry.fetch(`/v2/referrers/cascade/referrers/${image.digest}`)).json()) as { manifests: unknown[] };
    expect(listed.manifests).toEqual([]);
    const others = (await (await registry.fetch(`/v2/referrers/cascade/referrers/${other.digest}`)).json()) as { manifests: Array<{ digest: string }> };
    expect(others.manifests.map((m) => m.digest)).toEqual([kept.digest]);
  });

  it("accepts an artifact before its subject exists, and answers an empty index for a subject with none", async () => {
    const ghost = { digest: sha256("not pushed yet"), size: 14 };
    const early = await pushArtifact("referrers/early", ghost, "application/vnd.example.signature");
    expect(early.response.status).toBe(201);
    const listed = (await (await registry.fetch(`/v2/referrers/early/referrers/${ghost.digest}`)).json()) as { manifests: unknown[] };
    expect(listed.manifests).toHaveLength(1);
    const none = (await (await registry.fetch(`/v2/referrers/early/referrers/${sha256("nothing")}`)).json()) as { manifests: unknown[] };
    expect(none.manifests).toEqual([]);
  });

  // A 404 here reads to clients (oras, notation, cosign) as "this registry has no referrers
  // API", and they fall back to the sha256-<hex> tag schema; the spec says 200 with an index.
  const emptyIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };

  it("answers 200 with an empty OCI index for a digest nothing refers to, in a repository that has never existed", async () => {
    for (const digest of [sha256("no such subject"), `sha512:${"ab".repeat(64)}`]) {
      const response = await registry.fetch(`/v2/referrers/never-pushed/referrers/${digest}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe(OCI_INDEX);
      expect(await response.json()).toEqual(emptyIndex);
    }
    const filtered = await registry.fetch(`/v2/referrers/never-pushed/referrers/${sha256("x")}?artifactType=application/spdx%2Bjson`);
    expect(filtered.status).toBe(200);
    expect(filtered.headers.get("oci-filters-applied")).toBe("artifactType");
    expect(await filtered.json()).toEqual(emptyIndex);
  });

  it("answers the same empty index for an image that exists but has no referrers", async () => {
    const image = await registry.pushImage("referrers/lonely", "v1");
    const response = await registry.fetch(`/v2/referrers/lonely/referrers/${image.digest}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe(OCI_INDEX);
    expect(await response.json()).toEqual(emptyIndex);
  });

  it("still refuses an invalid digest with 400 DIGEST_INVALID", async () => {
    for (const digest of ["sha256:short", "latest"]) {
      const response = await registry.fetch(`/v2/referrers/never-pushed/referrers/${digest}`);
      expect(response.status).toBe(400);
      expect(await errorCode(response)).toBe("DIGEST_INVALID");
    }
  });
});
