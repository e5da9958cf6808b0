import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCosmosClient } from "../../shared/composition.js";
import { ChangeLog, type FeedEntry } from "../../shared/registry/change-log.js";
import { CosmosChangeStore } from "../../shared/store/cosmos/change-store.js";
import { CHANGES_CONTAINER } from "../../shared/store/cosmos/containers.js";
import { ManagementClient } from "../support/management-client.js";
import { OCI_INDEX, OCI_MANIFEST, RegistryClient, sha256, type PushedImage } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const REPOSITORY = "samples/multi/arch";
const SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json";

describe("repositories in the management API", () => {
  let stack: TestStack;
  let registry: RegistryClient;
  let admin: ManagementClient;
  let amd64: PushedImage;
  let arm64: PushedImage;
  let index: { digest: string; size: number };
  let signature: string;

  beforeAll(async () => {
    stack = await startTestStack();
    registry = new RegistryClient(stack.registryUrl);
    admin = new ManagementClient(stack.registryUrl);
    [amd64, arm64] = await Promise.all([registry.pushImage(REPOSITORY, "v1-amd64"), registry.pushImage(REPOSITORY, "v1-arm64")]);
    const indexBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: amd64.digest, size: amd64.manifest.length, platform: { os: "linux", architecture: "amd64" } },
          { mediaType: OCI_MANIFEST, digest: arm64.digest, size: arm64.manifest.length, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        ],
      }),
    );
    expect((await registry.putManifest(REPOSITORY, "v1", indexBytes, OCI_INDEX)).status).toBe(201);
    index = { digest: sha256(indexBytes), size: indexBytes.length };
    // A signature that refers to the index, pushed by digest as cosign and notation do.
    const empty = await registry.pushBlob(REPOSITORY, Buffer.from("{}"));
    const signatureBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: SIGNATURE,
        config: { mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 },
        layers: [{ mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 }],
        subject: { mediaType: OCI_INDEX, digest: index.digest, size: index.size },
        annotations: { "org.opencontainers.image.created": "2026-12-01T00:00:00Z" },
      }),
    );
    signature = sha256(signatureBytes);
    expect((await registry.putManifest(REPOSITORY, signature, signatureBytes)).status).toBe(201);
    await Promise.all(["alpha", "beta", "gamma", "delta", "epsilon"].map((name) => registry.pushImage(`paging/${name}`, "latest")));
  });
  afterAll(async () => stack?.destroy());

  it("shows a repository whose name has slashes: its tag and manifest counts and last update", async () => {
    const response = await admin.call("GET", `repositories/${REPOSITORY}`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ name: REPOSITORY, tagCount: 3, manifestCount: 4 });
    expect(Date.parse(response.body.lastUpdate)).toBeGreaterThan(Date.now() - 120_000);
  });

  it("lists repositories in pages with n and last, and a nextLink while more follow", async () => {
    const first = await admin.call("GET", "repositories?n=2&last=paging/");
    expect(first.body.value).toEqual([{ name: "paging/alpha" }, { name: "paging/beta" }]);
    expect(first.body.nextLink).toBe("/management/repositories?n=2&last=paging%2Fbeta");
    const names: string[] = [];
    for (let link: string | undefined = "/management/repositories?n=2"; link; ) {
      const page = await admin.call("GET", link.replace("/management/", ""));
      expect(page.status).toBe(200);
      names.push(...page.body.value.map((entry: { name: string }) => entry.name));
      link = page.body.nextLink;
    }
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining([REPOSITORY, "paging/alpha", "paging/epsilon", "paging/gamma"]));
    expect((await admin.call("GET", "repositories?n=abc")).status).toBe(400);
  });

  it("lists tags in pages, each with its digest, media type, size and update time", async () => {
    const first = await admin.call("GET", `repositories/${REPOSITORY}/_tags?n=2`);
    expect(first.status).toBe(200);
    expect(first.body.value.map((tag: { tag: string }) => tag.tag)).toEqual(["v1", "v1-amd64"]);
    expect(first.body.value[0]).toMatchObject({ digest: index.digest, mediaType: OCI_INDEX, size: index.size });
    expect(Date.parse(first.body.value[0].updatedAt)).not.toBeNaN();
    expect(first.body.nextLink).toBe(`/management/repositories/${REPOSITORY}/_tags?n=2&last=v1-amd64`);
    const second = await admin.call("GET", first.body.nextLink.replace("/management/", ""));
    expect(second.body.value).toEqual([expect.objectContaining({ tag: "v1-arm64", digest: arm64.digest, mediaType: OCI_MANIFEST, size: arm64.manifest.length })]);
    expect(second.body.nextLink).toBeUndefined();
  });

  it("shows a multi-arch index: each platform with its digest and size, the total, and its signature as a referrer", async () => {
    const response = await admin.call("GET", `repositories/${REPOSITORY}/_manifests/${index.digest}`);
    expect(response.status).toBe(200);
    const imageTotal = (image: PushedImage) => JSON.parse(image.manifest.toString()).config.size + 1024;
    expect(response.body).toMatchObject({ digest: index.digest, mediaType: OCI_INDEX, size: index.size, totalSize: imageTotal(amd64) + imageTotal(arm64) });
    expect(response.body.platforms).toEqual([
      { digest: amd64.digest, mediaType: OCI_MANIFEST, size: amd64.manifest.length, platform: { os: "linux", architecture: "amd64" }, totalSize: imageTotal(amd64) },
      { digest: arm64.digest, mediaType: OCI_MANIFEST, size: arm64.manifest.length, platform: { os: "linux", architecture: "arm64", variant: "v8" }, totalSize: imageTotal(arm64) },
    ]);
    expect(response.body.referrers).toEqual([
      expect.objectContaining({ digest: signature, artifactType: SIGNATURE, annotations: { "org.opencontainers.image.created": "2026-12-01T00:00:00Z" } }),
    ]);

    const image = await admin.call("GET", `repositories/${REPOSITORY}/_manifests/${amd64.digest}`);
    expect(image.body).toMatchObject({ totalSize: imageTotal(amd64), config: { digest: amd64.configDigest }, layers: [{ digest: amd64.layerDigest, size: 1024 }], referrers: [] });
  });

  it("answers 404 with a JSON error naming the unknown repository, tag or manifest", async () => {
    const unknown = [
      ["GET", "repositories/no/such/repo", "repository no/such/repo is not known"],
      ["GET", "repositories/no/such/repo/_tags", "repository no/such/repo is not known"],
      ["GET", `repositories/${REPOSITORY}/_manifests/sha256:${"0".repeat(64)}`, `manifest sha256:${"0".repeat(64)} is not in repository ${REPOSITORY}`],
      ["DELETE", `repositories/${REPOSITORY}/_tags/nope`, `tag nope is not in repository ${REPOSITORY}`],
      ["GET", "repositories/UPPER/case", 'no repository can be named "UPPER/case"'],
      ["GET", `repositories/${REPOSITORY}/_manifests/latest`, 'no manifest can be named "latest"'],
      // A tag's last segment: an encoded "#" or "/" names no tag (a trailing ".." is resolved away by URL parsing first).
      ["DELETE", `repositories/${REPOSITORY}/_tags/v1%23x`, 'no tag can be named "v1#x"'],
      ["DELETE", `repositories/${REPOSITORY}/_tags/v1%2Fx`, 'no tag can be named "v1/x"'],
    ];
    for (const [method, path, message] of unknown) {
      const response = await admin.call(method!, path!);
      expect(response.status, path).toBe(404);
      expect(response.body.error).toMatchObject({ code: "NotFound" });
      expect(response.body.error.message).toContain(message);
    }
  });

  it("takes a name with its slashes percent-encoded too", async () => {
    const response = await admin.call("GET", `repositories/${encodeURIComponent(REPOSITORY)}/_tags?n=1`);
    expect(response.status).toBe(200);
    expect(response.body.value[0].tag).toBe("v1");
  });

  it("needs the admin credential", async () => {
    const response = await fetch(`${stack.registryUrl}/management/repositories/${REPOSITORY}/_tags`);
    expect(response.status).toBe(401);
    const wrong = await new ManagementClient(stack.registryUrl, "wrong-key").call("DELETE", `repositories/${REPOSITORY}/_tags/v1`);
    expect(wrong.status).toBe(401);
    expect((await registry.fetch(`/v2/${REPOSITORY}/manifests/v1`, { method: "HEAD", headers: { Accept: OCI_INDEX } })).status).toBe(200);
  });

  it("deletes a tag as /v2/ does: the tag is gone, the manifest stays, and the change log records it for edges", async () => {
    const log = new ChangeLog(
      new CosmosChangeStore(createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE).container(CHANGES_CONTAINER.id), stack.config.REGISTRY_NAME),
      { graceMs: 1000 },
    );
    const tag = `doomed-${randomBytes(3).toString("hex")}`;
    const pushed = await registry.pushImage(REPOSITORY, tag);
    const start = await readAll(log, 0);

    expect((await admin.call("DELETE", `repositories/${REPOSITORY}/_tags/${tag}`)).status).toBe(204);
    expect((await registry.fetch(`/v2/${REPOSITORY}/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } })).status).toBe(404);
    expect((await registry.fetch(`/v2/${REPOSITORY}/manifests/${pushed.digest}`, { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
    const { entries } = await readAll(log, start.cursor);
    expect(entries.map((entry) => [entry.kind, entry.repository, entry.tag, entry.state])).toEqual([["tag.delete", REPOSITORY, tag, "committed"]]);
    expect((await admin.call("DELETE", `repositories/${REPOSITORY}/_tags/${tag}`)).status).toBe(404);
  });
});

async function readAll(log: ChangeLog, cursor: number): Promise<{ entries: FeedEntry[]; cursor: number }> {
  const entries: FeedEntry[] = [];
  for (;;) {
    const page = await log.read(cursor, 100);
    entries.push(...page.entries);
    cursor = page.settled;
    if (!page.more) return { entries, cursor };
  }
}
