import { randomUUID } from "node:crypto";
import { BlobServiceClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCosmosClient } from "../../shared/composition.js";
import { purgeStaleUploads } from "../../shared/registry/upload-cleanup.js";
import { AzureBlobStore } from "../../shared/store/azure-blob/blob-store.js";
import { ARTIFACTS_CONTAINER } from "../../shared/store/cosmos/containers.js";
import { CosmosMetadataStore } from "../../shared/store/cosmos/metadata-store.js";
import { RegistryClient } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

async function* bytes(text: string): AsyncGenerator<Uint8Array> {
  yield Buffer.from(text);
}

describe("the purge-stale-uploads timer", () => {
  let stack: TestStack;
  let metadata: CosmosMetadataStore;
  let blobs: AzureBlobStore;

  beforeAll(async () => {
    stack = await startTestStack();
    metadata = new CosmosMetadataStore(createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE).container(ARTIFACTS_CONTAINER.id));
    blobs = new AzureBlobStore(BlobServiceClient.fromConnectionString(stack.storageConnectionString), { containerName: stack.config.BLOB_CONTAINER, readUrlSeconds: 600 });
  });
  afterAll(async () => stack?.destroy());

  it("drops sessions untouched for a day with their bytes, and keeps recent ones", async () => {
    const now = new Date();
    const old = await metadata.createUpload({ repository: "cleanup/app", id: randomUUID(), offset: 0, blockIds: [], startedAt: new Date(now.getTime() - 25 * 3600_000).toISOString() });
    const staged = await blobs.stage({ kind: "upload", id: old.id }, bytes("abandoned"));
    await metadata.updateUpload({ ...old, offset: staged.bytes, blockIds: staged.blockIds });
    await blobs.commit({ kind: "upload", id: old.id }, staged.blockIds);
    const recent = await metadata.createUpload({ repository: "cleanup/app", id: randomUUID(), offset: 0, blockIds: [], startedAt: now.toISOString() });

    const messages: string[] = [];
    expect(await purgeStaleUploads(metadata, blobs, now, (m) => messages.push(m))).toBe(1);
    expect(messages).toEqual(["purge-stale-uploads: removed 1 abandoned upload session(s)"]);
    expect(await metadata.getUpload("cleanup/app", old.id)).toBeUndefined();
    await expect(blobs.readUpload(old.id)).rejects.toMatchObject({ statusCode: 404 });
    expect(await metadata.getUpload("cleanup/app", recent.id)).toBeDefined();

    // The client of the purged session is told it is gone.
    const response = await new RegistryClient(stack.registryUrl).fetch(`/v2/cleanup/app/blobs/uploads/${old.id}`);
    expect(response.status).toBe(404);
    // Running again finds nothing more to do.
    expect(await purgeStaleUploads(metadata, blobs, now, () => {})).toBe(0);
  });
});
