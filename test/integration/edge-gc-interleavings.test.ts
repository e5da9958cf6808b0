/**
 * Garbage collection forced into the gaps of a manifest write, one interleaving at a time
 * (edge-gc-race.test.ts finds them by chance under load; these pin them down). The grace
 * period is 0, so only the use tracking protects anything. Each case pauses a push or a
 * sync at one point of storeManifest, runs a whole collection there, lets the write go on,
 * and then asks that every tag pulls completely and the data folder is whole.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageManifest, pullProblems, pushLikeDocker, startGcSyncPair, storeProblems, type GcRegistry, type GcSyncPair } from "../support/edge-gc.js";
import { OCI_INDEX, OCI_MANIFEST, sha256 } from "../support/registry-client.js";

interface Image {
  blobs: Buffer[];
  layers: Buffer[];
  config: Buffer;
  manifest: Buffer;
}

function newImage(): Image {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", nonce: randomBytes(8).toString("hex") }));
  const layers = [randomBytes(3000), randomBytes(5000)];
  return { config, layers, blobs: [config, ...layers], manifest: imageManifest(config, layers) };
}

function indexOf(children: Buffer[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((child) => ({ mediaType: OCI_MANIFEST, digest: sha256(child), size: child.length, platform: { architecture: "amd64", os: "linux" } })),
    }),
  );
}

const tick = (ms = 5): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Replaces `target[method]` with one that waits, the first time it is called, until
 * released. `reached` settles when that call arrives.
 */
function pauseAt<T extends object>(target: T, method: keyof T & string) {
  const original = target[method] as (...args: unknown[]) => Promise<unknown>;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let reach!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  let first = true;
  (target as Record<string, unknown>)[method] = async function (this: unknown, ...args: unknown[]) {
    if (first) {
      first = false;
      reach();
      await released;
    }
    return original.apply(this, args);
  };
  return {
    reached,
    release,
    restore: () => ((target as Record<string, unknown>)[method] = original),
  };
}

describe("a collection in the gaps of a manifest write", () => {
  let pair: GcSyncPair;
  let parent: GcRegistry;
  let edge: GcRegistry;
  let client: GcSyncPair["client"];
  let applier: GcSyncPair["applier"];

  beforeAll(async () => {
    pair = await startGcSyncPair("edge-gc-gaps");
    ({ parent, edge, client, applier } = pair);
  });
  afterAll(async () => {
    await pair?.close();
  });

  /** Garbage at the edge (pushed, then untagged) whose content a later write reuses. */
  async function garbage(repository: string, images: Image[]): Promise<void> {
    for (const [k, image] of images.entries()) {
      expect(await pushLikeDocker(edge.client, repository, `tmp-${k}`, image.blobs, image.manifest)).toBe(201);
      expect((await edge.client.fetch(`/v2/${repository}/manifests/tmp-${k}`, { method: "DELETE" })).status).toBe(202);
    }
  }

  /** Runs a collection while `write` is held at `pause`, then lets it finish; answers the collection's and the write's outcome. */
  async function collectDuring<R>(pause: ReturnType<typeof pauseAt>, write: () => Promise<R>): Promise<{ outcome: PromiseSettledResult<R> }> {
    const writing = write();
    writing.catch(() => undefined);
    await pause.reached;
    // Uses so far are older than the collection's start: only what the write holds protects it.
    await tick();
    await edge.collector.collect();
    pause.release();
    const [outcome] = await Promise.allSettled([writing]);
    pause.restore();
    return { outcome: outcome! };
  }

  async function expectWhole(repository: string, references: string[]): Promise<void> {
    for (const reference of references) expect(await pullProblems(edge.client, repository, reference)).toEqual([]);
    expect((await storeProblems(edge.dir)).filter((problem) => problem.startsWith(repository))).toEqual([]);
  }

  it("a push whose blobs were checked before the collection started keeps them until its tag is written", async () => {
    const image = newImage();
    await garbage("checked", [image]);
    // Paused after the manifest PUT checked its blobs, before it writes anything.
    const pause = pauseAt(edge.ctx.changes, "record");
    const { outcome } = await collectDuring(pause, () => edge.client.putManifest("checked", "pushed", image.manifest, OCI_MANIFEST).then((r) => r.status));
    expect(outcome).toEqual({ status: "fulfilled", value: 201 });
    await expectWhole("checked", ["pushed"]);
  });

  it("a push whose manifest was written before the collection started keeps it until its tag is written", async () => {
    const image = newImage();
    await garbage("untagged", [image]);
    // Paused between the manifest's record and the tag's: the manifest is stored, untagged and older than the collection.
    const pause = pauseAt(edge.ctx.metadata, "putTag");
    const { outcome } = await collectDuring(pause, () => edge.client.putManifest("untagged", "tagged-late", image.manifest, OCI_MANIFEST).then((r) => r.status));
    expect(outcome).toEqual({ status: "fulfilled", value: 201 });
    await expectWhole("untagged", ["tagged-late"]);
  });

  it("a sync that found its blobs present keeps them until its tag is written", async () => {
    const image = newImage();
    await garbage("synced", [image]);
    expect(await pushLikeDocker(parent.client, "synced", "latest", image.blobs, image.manifest)).toBe(201);
    const pause = pauseAt(edge.ctx.changes, "record");
    const { outcome } = await collectDuring(pause, () => applier.applyTag("synced", "latest"));
    expect(outcome).toEqual({ status: "fulfilled", value: true });
    await expectWhole("synced", ["latest"]);
  });

  it("an index whose children were checked before the collection started keeps their blobs too", async () => {
    const images = [newImage(), newImage()];
    const index = indexOf(images.map((image) => image.manifest));
    // The children stay stored by digest, untagged, so the index push reuses them.
    await garbage("multi", images);
    const pause = pauseAt(edge.ctx.changes, "record");
    const { outcome } = await collectDuring(pause, () => edge.client.putManifest("multi", "latest", index, OCI_INDEX).then((r) => r.status));
    expect(outcome).toEqual({ status: "fulfilled", value: 201 });
    await expectWhole("multi", ["latest", ...images.map((image) => sha256(image.manifest))]);
  });
});
