/**
 * A SIGKILL at any point of a collection leaves a store that serves every tag completely.
 * A data folder is prepared with kept images (tags, an index, a blob shared with garbage)
 * and a lot of old garbage (untagged images and indexes, a repository whose tags are gone);
 * copies of it are collected by the real command (`connected-registry gc`, a child process)
 * killed with SIGKILL after delays spread over a whole collection. Each killed folder is
 * then read as an agent would serve it: every tag's manifest stored, every stored
 * manifest's blobs present with the right bytes and linked, every child manifest present.
 * A collection afterwards finishes the job. Imports come from dist/ (build first).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageManifest, pullProblems, pushLikeDocker, startGcRegistry, storeProblems } from "../support/edge-gc.js";
import { OCI_INDEX, OCI_MANIFEST, sha256 } from "../support/registry-client.js";

const CLI = resolve("dist/edge-agent/src/cli.js");
const GARBAGE_IMAGES = 90;
const KILLS = 14;

function newImage(shared?: Buffer): { blobs: Buffer[]; manifest: Buffer } {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", nonce: randomBytes(8).toString("hex") }));
  const layers = [randomBytes(2000), shared ?? randomBytes(3000)];
  return { blobs: [config, ...layers], manifest: imageManifest(config, layers) };
}

/**
 * Runs `connected-registry gc` on `dir`. With `killWhenLeft`, watches the folder's manifests
 * and blobs and kills the command with SIGKILL as soon as no more than that many are left.
 * Answers whether it was killed.
 */
function runGc(dir: string, killWhenLeft?: number): Promise<{ killed: boolean }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, "gc", "--data", dir, "--output", "json"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let exited = false;
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      exited = true;
      if (signal === "SIGKILL") resolvePromise({ killed: true });
      else if (code === 0) resolvePromise({ killed: false });
      else reject(new Error(`gc exited ${code}: ${stderr}`));
    });
    if (killWhenLeft === undefined) return;
    void (async () => {
      while (!exited) {
        if ((await deletable(dir)) <= killWhenLeft) {
          child.kill("SIGKILL");
          return;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
  });
}

/** The files a collection deletes most of: manifests of "app" and "gone/app", and blob content. */
async function deletable(dir: string): Promise<number> {
  const count = async (path: string): Promise<number> => (await readdir(path).catch(() => [])).length;
  const repositories = join(dir, "metadata", "repositories");
  return (await count(join(repositories, "app", "_manifests", "sha256"))) + (await count(join(repositories, "gone", "app", "_manifests", "sha256"))) + (await count(join(dir, "blobs", "sha256")));
}

async function countFiles(dir: string): Promise<number> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).length;
}

describe("SIGKILL during a garbage collection", () => {
  let root: string;
  let template: string;
  const tags: Array<[string, string]> = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "edge-gc-kill-"));
    template = join(root, "template");
    const edge = await startGcRegistry(template);
    const shared = randomBytes(4000);
    try {
      const platforms = [newImage(shared), newImage()];
      for (const p of platforms) expect(await pushLikeDocker(edge.client, "app", sha256(p.manifest), p.blobs, p.manifest)).toBe(201);
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: platforms.map((p) => ({ mediaType: OCI_MANIFEST, digest: sha256(p.manifest), size: p.manifest.length })) }));
      expect((await edge.client.putManifest("app", "multi", index, OCI_INDEX)).status).toBe(201);
      tags.push(["app", "multi"]);
      for (let i = 0; i < 3; i++) {
        const image = newImage();
        expect(await pushLikeDocker(edge.client, "app", `v${i}`, image.blobs, image.manifest)).toBe(201);
        tags.push(["app", `v${i}`]);
      }
      // Garbage: untagged images (some sharing a kept layer), untagged indexes over them, a repository whose tags went.
      const garbage: Array<{ blobs: Buffer[]; manifest: Buffer }> = [];
      for (let i = 0; i < GARBAGE_IMAGES; i++) {
        const repository = i % 3 === 0 ? "gone/app" : "app";
        const image = newImage(i % 10 === 0 ? shared : undefined);
        expect(await pushLikeDocker(edge.client, repository, `tmp${i}`, image.blobs, image.manifest)).toBe(201);
        if (repository === "app") garbage.push(image);
      }
      for (let i = 0; i + 1 < garbage.length; i += 8) {
        const members = garbage.slice(i, i + 2);
        const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: members.map((p) => ({ mediaType: OCI_MANIFEST, digest: sha256(p.manifest), size: p.manifest.length })) }));
        expect((await edge.client.putManifest("app", `idx${i}`, index, OCI_INDEX)).status).toBe(201);
        await edge.metadata.deleteTag("app", `idx${i}`);
      }
      for (let i = 0; i < GARBAGE_IMAGES; i++) await edge.metadata.deleteTag(i % 3 === 0 ? "gone/app" : "app", `tmp${i}`);
    } finally {
      await edge.close();
    }
    // The command wants an agent's state file; and everything is made older than the grace period.
    await writeFile(join(template, "state.json"), JSON.stringify({ instanceId: "kill-test", activation: { status: "NotActivated" }, upstreamAfter: 0, progress: { phase: "idle", itemsDone: 0, itemsTotal: 0, bytesFetched: 0 }, children: {} }));
    const then = new Date(Date.now() - 3600_000);
    for (const entry of await readdir(template, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      if (path.includes("_layers")) await writeFile(path, JSON.stringify({ ...JSON.parse(await readFile(path, "utf8")), usedAt: then.toISOString() }));
      await utimes(path, then, then);
    }
    expect(await storeProblems(template)).toEqual([]);
  });
  afterAll(async () => {
    if (root && !process.env.KEEP_GC_KILL) await rm(root, { recursive: true, force: true });
  });

  it("leaves every tag and every stored manifest complete, wherever it is killed", async () => {
    const full = join(root, "full");
    await cp(template, full, { recursive: true, preserveTimestamps: true });
    const before = await deletable(full);
    const started = Date.now();
    await runGc(full);
    const wholeRunMs = Date.now() - started;
    const after = await deletable(full);
    expect(after).toBeLessThan(before - GARBAGE_IMAGES * 3);
    const filesAfter = await countFiles(full);

    let midway = 0;
    for (let i = 0; i < KILLS; i++) {
      const dir = join(root, `kill-${i}`);
      await cp(template, dir, { recursive: true, preserveTimestamps: true });
      // Kill points spread from the first deletion to the last.
      const killWhenLeft = Math.round(before - ((before - after) * (i + 0.5)) / KILLS);
      const { killed } = await runGc(dir, killWhenLeft);
      const left = await deletable(dir);
      if (killed && left < before && left > after) midway++;

      expect(await storeProblems(dir), `killed with ${left} of ${before} files left`).toEqual([]);
      // Started again on the folder: the agent serves every tag, and the next collection finishes the job.
      const edge = await startGcRegistry(dir);
      try {
        for (const [repository, tag] of tags) expect(await pullProblems(edge.client, repository, tag)).toEqual([]);
      } finally {
        await edge.close();
      }
      if (i % 4 === 3) {
        await runGc(dir);
        expect(await storeProblems(dir)).toEqual([]);
        expect(await countFiles(dir)).toBeLessThanOrEqual(filesAfter + 2);
      }
      await rm(dir, { recursive: true, force: true });
    }
    console.log(`edge-gc-sigkill: a whole collection took ${wholeRunMs} ms (process included); ${midway} of ${KILLS} kills landed mid-deletion`);
    expect(midway).toBeGreaterThanOrEqual(KILLS / 2);
  });
});
