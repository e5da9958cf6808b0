/**
 * Garbage collection of unreferenced blobs against the real stores (Azurite, the Cosmos DB
 * server), with a 2-second grace period: orphans go after the grace period, referenced blobs
 * stay, and pushes that race the collector never end with a manifest whose blob is gone.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCloudServices, type CloudServices } from "../../dist/shared/composition.js";
import { collectGarbage, type GarbageCollectionReport } from "../../dist/shared/registry/blob-gc.js";
import { OCI_MANIFEST, RegistryClient, sha256 } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const GRACE_MS = 2000;

describe("blob garbage collection", () => {
  let stack: TestStack;
  let client: RegistryClient;
  let services: CloudServices;

  beforeAll(async () => {
    stack = await startTestStack({ settings: { BLOB_GC_GRACE_SECONDS: String(GRACE_MS / 1000) } });
    client = new RegistryClient(stack.registryUrl);
    // A second instance of the cloud side on the same stores: the collector runs here, as a timer would.
    services = createCloudServices(stack.config, () => {});
  }, 60_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  const collect = (): Promise<GarbageCollectionReport> =>
    collectGarbage(services.garbage.index, services.garbage.inventory, {
      graceMs: GRACE_MS,
      linkRefreshMs: services.garbage.linkRefreshMs,
      limit: 1000,
    });
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const blobStatus = async (repository: string, digest: string): Promise<number> => (await client.fetch(`/v2/${repository}/blobs/${digest}`, { method: "HEAD" })).status;

  async function manifestFor(repository: string, layers: string[], sizes: number[]): Promise<Response> {
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", nonce: randomBytes(8).toString("hex") }));
    const configDigest = await client.pushBlob(repository, config);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
      layers: layers.map((digest, i) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest, size: sizes[i] })),
    };
    return client.putManifest(repository, `t${randomBytes(4).toString("hex")}`, manifest);
  }

  it("marks an orphan first, deletes it a grace period later, and keeps what manifests reference", async () => {
    const image = await client.pushImage("gc/kept", "v1");
    const orphan = await client.pushBlob("gc/orphans", randomBytes(2048));
    const dropped = await client.pushImage("gc/dropped", "v1");
    expect((await client.fetch(`/v2/gc/dropped/manifests/${dropped.digest}`, { method: "DELETE" })).status).toBe(202);

    await pause(GRACE_MS + 200);
    const first = await collect();
    expect(first.marked).toBeGreaterThanOrEqual(2);
    expect(first.deleted).toBe(0);
    expect(await blobStatus("gc/orphans", orphan)).toBe(200);

    await pause(GRACE_MS + 200);
    const second = await collect();
    expect(second.deleted).toBeGreaterThanOrEqual(2);
    expect(await blobStatus("gc/orphans", orphan)).toBe(404);
    expect(await blobStatus("gc/dropped", dropped.layerDigest)).toBe(404);
    expect(await blobStatus("gc/kept", image.layerDigest)).toBe(200);
    expect(await blobStatus("gc/kept", image.configDigest)).toBe(200);
    expect((await client.fetch("/v2/gc/kept/manifests/v1")).status).toBe(200);
  });

  it("never leaves a manifest whose blob is gone when pushes race the collector", async () => {
    // Orphans old enough to be marked, then pushes that reference them while two collectors run.
    const layers = await Promise.all(Array.from({ length: 12 }, async () => {
      const bytes = randomBytes(4096);
      return { digest: await client.pushBlob("gc/race", bytes), bytes };
    }));
    await pause(GRACE_MS + 200);
    await collect();
    await pause(GRACE_MS + 200);

    const pushes = layers.map(async (layer, i) => {
      // Staggered, so some pushes land before, during and after the deletions.
      await pause(i * 15);
      let response = await manifestFor("gc/race", [layer.digest], [layer.bytes.length]);
      if (response.status === 400) {
        // MANIFEST_BLOB_UNKNOWN: the collector won; the client uploads the blob again, as docker does.
        expect(((await response.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe("MANIFEST_BLOB_UNKNOWN");
        await client.pushBlob("gc/race", layer.bytes);
        response = await manifestFor("gc/race", [layer.digest], [layer.bytes.length]);
      }
      expect(response.status).toBe(201);
      return layer.digest;
    });
    const [referenced] = await Promise.all([Promise.all(pushes), collect(), collect()]);
    // And once more, after everything settled: nothing referenced may go.
    await pause(GRACE_MS + 200);
    await collect();
    await pause(GRACE_MS + 200);
    await collect();
    for (const digest of referenced) {
      const response = await client.getBlob("gc/race", digest);
      expect(response.status).toBe(200);
      expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(digest);
    }
  }, 60_000);
});
