/**
 * Garbage collection racing the sync, pushes and pulls: rounds in which unreachable images
 * are made (pushed, then untagged) and, while a collection runs with no grace period, a
 * client pushes images that reuse their layers the way docker does (HEAD finds them, so it
 * skips the upload), the real sync path (ContentFetcher + Applier from a parent registry)
 * brings images whose blobs the fetcher finds already present, and a client pulls. After
 * every round, every tag must pull completely and every stored manifest must have its blobs
 * with the right bytes. Only the use tracking (gc/use-tracker.ts) keeps these safe here:
 * the grace period is 0, so file times protect nothing.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageManifest, pullProblems, pushLikeDocker, startGcSyncPair, storeProblems, type GcRegistry, type GcSyncPair } from "../support/edge-gc.js";

const ROUNDS = 12;
/**
 * Rounds added while no collection has yet met a use (nothing spared, nothing retried): under
 * load the uses can miss every sweep window by chance (as few as 1 spared in 12 rounds was
 * seen), and a run that never raced proves nothing. The completeness checks stay the same.
 */
const EXTRA_ROUNDS = 6;
const IMAGES_PER_ROUND = 8;
/** Of each round's garbage, the first this many are reused (pushed again, synced); the rest is only collected. */
const REUSED_PER_ROUND = 6;
/**
 * Uses start at random moments across about as long as the round's first collection takes
 * (measured in the round before), so they land before, during and after its sweep.
 */
let spreadMs = 200;

const jitter = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.random() * spreadMs));

interface Image {
  blobs: Buffer[];
  manifest: Buffer;
}

function newImage(): Image {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", nonce: randomBytes(8).toString("hex") }));
  const layers = [randomBytes(3000), randomBytes(5000)];
  return { blobs: [config, ...layers], manifest: imageManifest(config, layers) };
}

describe("garbage collection racing sync, pushes and pulls", () => {
  let pair: GcSyncPair;
  let parent: GcRegistry;
  let edge: GcRegistry;
  let client: GcSyncPair["client"];
  let applier: GcSyncPair["applier"];

  beforeAll(async () => {
    pair = await startGcSyncPair("edge-gc-race");
    ({ parent, edge, client, applier } = pair);
  });
  afterAll(async () => {
    await pair?.close();
  });

  // 12 rounds take about 30 s alone and up to 90 s on a loaded machine; extra rounds add up to half again.
  it("leaves every tag completely pullable through many collections", async () => {
    const stable: Array<[string, string]> = [];
    for (let i = 0; i < 4; i++) {
      const image = newImage();
      expect(await pushLikeDocker(edge.client, "base", `v${i}`, image.blobs, image.manifest)).toBe(201);
      stable.push(["base", `v${i}`]);
    }
    const written: Array<[string, string]> = [];
    const pullFailures: string[] = [];
    let spared = 0;
    let removed = 0;
    let retried = 0;
    const durations: number[] = [];

    let round = 0;
    for (; round < ROUNDS || (spared + retried === 0 && round < ROUNDS + EXTRA_ROUNDS); round++) {
      // Garbage whose layers the round's pushes and syncs are about to reuse.
      const batch = Array.from({ length: IMAGES_PER_ROUND }, newImage);
      for (const [k, image] of batch.entries()) {
        expect(await pushLikeDocker(edge.client, "old", `tmp-${round}-${k}`, image.blobs, image.manifest)).toBe(201);
        expect((await edge.client.fetch(`/v2/old/manifests/tmp-${round}-${k}`, { method: "DELETE" })).status).toBe(202);
        expect(await pushLikeDocker(parent.client, "old", `s-${round}-${k}`, image.blobs, image.manifest)).toBe(201);
      }

      let done = false;
      const collections = (async () => {
        for (let i = 0; i < 3; i++) {
          const result = await edge.collector.collect();
          if (i === 0) spreadMs = result.durationMs * 1.2;
          spared += result.spared;
          durations.push(result.durationMs);
          removed += result.removed.blobs;
        }
      })();
      const reused = batch.slice(0, REUSED_PER_ROUND);
      const pushes = Promise.all(
        reused.map(async (image, k) => {
          await jitter();
          const tag = `p-${round}-${k}`;
          // A push refused because a blob it relied on went away is what a client sees and retries.
          if ((await pushLikeDocker(edge.client, "old", tag, image.blobs, image.manifest)) !== 201) {
            retried++;
            expect(await pushLikeDocker(edge.client, "old", tag, image.blobs, image.manifest)).toBe(201);
          }
          written.push(["old", tag]);
        }),
      );
      const syncs = Promise.all(
        reused.map(async (_image, k) => {
          await jitter();
          const tag = `s-${round}-${k}`;
          try {
            await applier.applyTag("old", tag);
          } catch {
            // A blob found present and then collected fails the item; the next cycle fetches it.
            retried++;
            await applier.applyTag("old", tag);
          }
          written.push(["old", tag]);
        }),
      );
      const pulls = (async () => {
        while (!done) {
          const tags = [...stable, ...written.slice(-12)];
          const [repository, tag] = tags[Math.floor(Math.random() * tags.length)]!;
          pullFailures.push(...(await pullProblems(edge.client, repository, tag)));
        }
      })();
      await Promise.all([collections, pushes, syncs]);
      done = true;
      await pulls;

      expect(pullFailures).toEqual([]);
      expect(await storeProblems(edge.dir)).toEqual([]);
    }
    await edge.collector.collect();
    for (const [repository, tag] of [...stable, ...written]) expect(await pullProblems(edge.client, repository, tag)).toEqual([]);
    expect(await storeProblems(edge.dir)).toEqual([]);
    // The race happened: collections removed content and also found content in use again.
    console.log(`edge-gc-race: ${round} rounds, ${removed} blobs removed, ${spared} spared (collections took ${durations.join(",")} ms) as in use again, ${retried} pushes/syncs retried`);
    expect(removed, "blobs removed by the collections").toBeGreaterThan(0);
    expect(spared + retried, `collections that met a use (spared) or uses that met a deletion (retried) in ${round} rounds`).toBeGreaterThan(0);
  }, 240_000);
});
