import { BlobServiceClient } from "@azure/storage-blob";
import type { Container } from "@azure/cosmos";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anonymousAuthorizer } from "../../shared/auth/authorizer.js";
import { createCosmosClient } from "../../shared/composition.js";
import type { Handler } from "../../shared/http/types.js";
import { ContentPresence } from "../../shared/registry/content-presence.js";
import { RunningHashes } from "../../shared/registry/running-hashes.js";
import { createV2Handler } from "../../shared/registry/v2-handler.js";
import { AzureBlobStore } from "../../shared/store/azure-blob/blob-store.js";
import { ChangeLog } from "../../shared/registry/change-log.js";
import { CosmosChangeStore } from "../../shared/store/cosmos/change-store.js";
import { ARTIFACTS_CONTAINER, CHANGES_CONTAINER } from "../../shared/store/cosmos/containers.js";
import { CosmosMetadataStore } from "../../shared/store/cosmos/metadata-store.js";
import { OCI_MANIFEST, RegistryClient, type PushedImage } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

interface CosmosCalls {
  pointReads: number;
  queries: number;
  writes: number;
}

/** Wraps a real Cosmos container so every operation the store makes is counted by kind. */
function countingContainer(container: Container, calls: CosmosCalls): Container {
  const countMethods = <T extends object>(target: T, kind: (method: string) => keyof CosmosCalls): T =>
    new Proxy(target, {
      get(object, property) {
        const value = Reflect.get(object, property) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          calls[kind(String(property))]++;
          return (value as (...a: unknown[]) => unknown).apply(object, args);
        };
      },
    });
  return new Proxy(container, {
    get(object, property) {
      if (property === "item") {
        return (id: string, partition: string) => countMethods(object.item(id, partition), (m) => (m === "read" ? "pointReads" : "writes"));
      }
      if (property === "items") {
        return countMethods(object.items, (m) => (m === "query" || m === "readAll" ? "queries" : "writes"));
      }
      return Reflect.get(object, property) as unknown;
    },
  });
}

describe("cost of a pull", () => {
  let stack: TestStack;
  let image: PushedImage;
  let handler: Handler;
  const calls: CosmosCalls = { pointReads: 0, queries: 0, writes: 0 };

  beforeAll(async () => {
    stack = await startTestStack();
    image = await new RegistryClient(stack.registryUrl).pushImage("cost/app", "v1");
    const database = createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE);
    const container = database.container(ARTIFACTS_CONTAINER.id);
    const blobs = new AzureBlobStore(BlobServiceClient.fromConnectionString(stack.storageConnectionString), {
      containerName: stack.config.BLOB_CONTAINER,
      readUrlSeconds: 600,
    });
    handler = createV2Handler({
      metadata: new CosmosMetadataStore(countingContainer(container, calls)),
      blobs,
      contentPresence: new ContentPresence(blobs),
      authorizer: anonymousAuthorizer,
      options: { blobDelivery: "redirect" },
      runningHashes: new RunningHashes(),
      changes: new ChangeLog(new CosmosChangeStore(database.container(CHANGES_CONTAINER.id), stack.config.REGISTRY_NAME), { graceMs: 30_000 }),
    });
  });
  afterAll(async () => stack?.destroy());

  async function countCalls(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; calls: CosmosCalls }> {
    Object.assign(calls, { pointReads: 0, queries: 0, writes: 0 });
    const response = await handler({ method, url: new URL(`http://registry.test${path}`), headers: new Headers(headers), body: null });
    return { status: response.status, calls: { ...calls } };
  }

  it("serves a manifest by tag with one point read and no query", async () => {
    const result = await countCalls("GET", "/v2/cost/app/manifests/v1", { Accept: OCI_MANIFEST });
    expect(result).toEqual({ status: 200, calls: { pointReads: 1, queries: 0, writes: 0 } });
  });

  it("serves a manifest by digest with one point read", async () => {
    const result = await countCalls("HEAD", `/v2/cost/app/manifests/${image.digest}`, { Accept: OCI_MANIFEST });
    expect(result).toEqual({ status: 200, calls: { pointReads: 1, queries: 0, writes: 0 } });
  });

  it("redirects a blob GET after one point read", async () => {
    const result = await countCalls("GET", `/v2/cost/app/blobs/${image.layerDigest}`);
    expect(result).toEqual({ status: 307, calls: { pointReads: 1, queries: 0, writes: 0 } });
  });
});
