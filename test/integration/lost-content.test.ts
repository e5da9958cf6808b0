/**
 * A blob link whose content is gone from storage (a storage restore older than the
 * metadata, or bytes lost by a crash) is never answered as present: HEAD and GET say
 * BLOB_UNKNOWN, a mount falls back to an upload, a manifest naming it is refused, and a
 * re-push of the blob heals every tag that needs it.
 */
import { BlobServiceClient } from "@azure/storage-blob";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorCode, OCI_MANIFEST, RegistryClient, sha256, type PushedImage } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

describe("content lost under a blob link", () => {
  let dataDir: string;
  let stack: TestStack;
  let client: RegistryClient;
  let image: PushedImage;
  let layer: Buffer;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "registry-lost-content-"));
    const first = await startTestStack({ dataDir });
    const pusher = new RegistryClient(first.registryUrl);
    image = await pusher.pushImage("lost/app", "v1");
    layer = Buffer.from(await (await pusher.getBlob("lost/app", image.layerDigest)).arrayBuffer());
    await first.stop();
    // A fresh registry process (nothing remembered), then the layer's bytes vanish from storage.
    stack = await startTestStack({ dataDir });
    client = new RegistryClient(stack.registryUrl);
    const container = BlobServiceClient.fromConnectionString(stack.storageConnectionString).getContainerClient(stack.config.BLOB_CONTAINER);
    await container.getBlockBlobClient(`blobs/${image.layerDigest.replace(":", "/")}`).delete();
  });
  afterAll(async () => {
    await stack?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("answers HEAD and GET with BLOB_UNKNOWN, so a client uploads the blob again", async () => {
    const head = await client.fetch(`/v2/lost/app/blobs/${image.layerDigest}`, { method: "HEAD" });
    expect(head.status).toBe(404);
    const get = await client.fetch(`/v2/lost/app/blobs/${image.layerDigest}`);
    expect(get.status).toBe(404);
    expect(await errorCode(get)).toBe("BLOB_UNKNOWN");
    // The config blob, whose bytes are there, is unaffected.
    expect((await client.fetch(`/v2/lost/app/blobs/${image.configDigest}`, { method: "HEAD" })).status).toBe(200);
  });

  it("does not mount it into another repository: the client gets an upload session instead", async () => {
    const mount = await client.fetch(`/v2/lost/other/blobs/uploads/?mount=${image.layerDigest}&from=lost/app`, { method: "POST" });
    expect(mount.status).toBe(202);
  });

  it("refuses a manifest that names it", async () => {
    const manifest = JSON.parse(image.manifest.toString()) as Record<string, unknown>;
    const response = await client.putManifest("lost/app", "v2", { ...manifest, annotations: { again: randomBytes(4).toString("hex") } });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("MANIFEST_BLOB_UNKNOWN");
  });

  it("is healed by a re-push of the blob: the tag pulls byte-identical again", async () => {
    expect(await client.pushBlob("lost/app", layer)).toBe(image.layerDigest);
    expect((await client.fetch(`/v2/lost/app/blobs/${image.layerDigest}`, { method: "HEAD" })).status).toBe(200);
    const manifest = await client.fetch("/v2/lost/app/manifests/v1", { headers: { Accept: OCI_MANIFEST } });
    expect(Buffer.from(await manifest.arrayBuffer()).equals(image.manifest)).toBe(true);
    const blob = await client.getBlob("lost/app", image.layerDigest);
    expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(image.layerDigest);
  });
});
