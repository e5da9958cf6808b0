/**
 * A sparse index at the edge (docs/edge-agent.md "Filters"): the edge's registry engine over
 * its real file stores stores an index whose filtered-out platform is absent only when its
 * sync says which children may be absent (a client push still needs every child), serves it,
 * and the edge's garbage collection keeps the index and the kept platform while tagged and
 * takes everything once the tag goes, absent child and all.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeManifest } from "../../dist/shared/registry/manifests.js";
import { imageManifest, pullProblems, pushLikeDocker, startGcRegistry, type GcRegistry } from "../support/edge-gc.js";
import { OCI_INDEX, OCI_MANIFEST, sha256 } from "../support/registry-client.js";

let dir: string;
let edge: GcRegistry;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "edge-sparse-"));
  edge = await startGcRegistry(dir, { graceMs: 0 });
});

afterAll(async () => {
  await edge?.close();
  await rm(dir, { recursive: true, force: true });
});

const present = (digest: string): Promise<boolean> => stat(join(dir, "blobs", "sha256", digest.slice(7))).then(() => true, () => false);

describe("a sparse index at the edge", () => {
  it("is stored only with its absent children named, serves the kept platform, and GC treats the absent one as fine", async () => {
    const config = Buffer.from(JSON.stringify({ architecture: "arm64", os: "linux" }));
    const layer = randomBytes(4096);
    const arm64 = imageManifest(config, [layer]);
    expect(await pushLikeDocker(edge.client, "app", sha256(arm64), [config, layer], arm64)).toBe(201);
    const amd64 = `sha256:${"ab".repeat(32)}`; // filtered out: never fetched
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: amd64, size: 500, platform: { os: "linux", architecture: "amd64" } },
          { mediaType: OCI_MANIFEST, digest: sha256(arm64), size: arm64.length, platform: { os: "linux", architecture: "arm64" } },
        ],
      }),
    );

    // A client push, and a sync write that does not name the absent child, are refused.
    const pushed = await edge.client.putManifest("app", "v1", index, OCI_INDEX);
    expect(pushed.status).toBe(400);
    expect(await pushed.text()).toContain(amd64);
    await expect(storeManifest(edge.ctx as never, "app", index, OCI_INDEX, sha256(index), { tag: "v1" }, { source: "(parent)" }, { absentChildren: new Set() })).rejects.toThrow(amd64);

    await storeManifest(edge.ctx as never, "app", index, OCI_INDEX, sha256(index), { tag: "v1" }, { source: "(parent)" }, { absentChildren: new Set([amd64]) });
    const served = await edge.client.fetch("/v2/app/manifests/v1", { headers: { Accept: OCI_INDEX } });
    expect(served.status).toBe(200);
    expect(sha256(Buffer.from(await served.arrayBuffer()))).toBe(sha256(index));
    expect(await pullProblems(edge.client, "app", sha256(arm64))).toEqual([]);

    const kept = await edge.collector.collect();
    expect(kept.items.filter((item) => item.kind === "manifest" || item.kind === "blob")).toEqual([]);
    expect(await pullProblems(edge.client, "app", sha256(arm64))).toEqual([]);

    expect((await edge.client.fetch("/v2/app/manifests/v1", { method: "DELETE" })).status).toBe(202);
    const collected = await edge.collector.collect();
    expect(collected.removed.manifests).toBe(2);
    expect(await present(sha256(layer))).toBe(false);
    expect((await edge.client.fetch(`/v2/app/manifests/${sha256(arm64)}`, { headers: { Accept: OCI_MANIFEST } })).status).toBe(404);
  });
});
