/**
 * The edge's crash-safe writes (edge-agent/src/store/atomic-file.ts): directories made only
 * when missing, and directory fsyncs shared by the writers that arrive together. Imported
 * from dist/ (run `npx tsc -p tsconfig.json` first), like the other edge tests.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fsyncDirectory, writeFileAtomic } from "../../dist/edge-agent/src/store/atomic-file.js";
import { dataFolderProblem, guardDataFolder, makeDirectory } from "../../dist/edge-agent/src/store/data-folder-guard.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "atomic-file-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writeFileAtomic and fsyncDirectory", () => {
  it("makes the missing folders of a file", async () => {
    await writeFileAtomic(join(dir, "a", "b", "c.json"), "{}");
    expect(await readFile(join(dir, "a", "b", "c.json"), "utf8")).toBe("{}");
  });

  it("writes many files into one folder at once (sharing directory fsyncs), each complete and no temp file left", async () => {
    const folder = join(dir, "many");
    await Promise.all(Array.from({ length: 40 }, (_, i) => writeFileAtomic(join(folder, `f${i}`), `content ${i}`)));
    const names = (await readdir(folder)).sort();
    expect(names).toHaveLength(40);
    for (let i = 0; i < 40; i++) expect(await readFile(join(folder, `f${i}`), "utf8")).toBe(`content ${i}`);
  });

  it("answers every caller, those that joined a queued fsync and those that came while one ran", async () => {
    const calls: Array<Promise<void>> = [];
    for (let round = 0; round < 5; round++) {
      calls.push(fsyncDirectory(dir), fsyncDirectory(dir));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await expect(Promise.all(calls)).resolves.toBeDefined();
  });

  it("is a no-op for a folder that does not exist", async () => {
    await expect(fsyncDirectory(join(dir, "nowhere"))).resolves.toBeUndefined();
  });
});

describe("a guarded data folder", () => {
  it("gets its missing subfolders made, but is never made again itself once it is gone", async () => {
    const data = join(dir, "data");
    await mkdir(data);
    const release = await guardDataFolder(data);
    try {
      await writeFileAtomic(join(data, "blobs", "sha256", "ab", "x"), "bytes");
      expect(await readFile(join(data, "blobs", "sha256", "ab", "x"), "utf8")).toBe("bytes");

      await rename(data, `${data}.away`);
      // A state file straight in the folder, and a file two folders below it.
      await expect(writeFileAtomic(join(data, "state.json"), "{}")).rejects.toMatchObject({ code: "ENOENT", message: expect.stringMatching(/data folder .*data is gone \(ENOENT\)/) });
      await expect(writeFileAtomic(join(data, "links", "r", "y"), "{}")).rejects.toMatchObject({ code: "ENOENT" });
      await expect(makeDirectory(join(data, "partial"))).rejects.toMatchObject({ code: "ENOENT" });
      expect(existsSync(data)).toBe(false);

      // An empty folder where it was (the mount point an unmounted volume leaves): not the agent's.
      await mkdir(data);
      expect(await dataFolderProblem(data)).toBe("ESTALE");
      await expect(writeFileAtomic(join(data, "state.json"), "{}")).rejects.toMatchObject({ code: "ESTALE", message: expect.stringMatching(/was replaced by another folder/) });
      await expect(writeFileAtomic(join(data, "links", "r", "y"), "{}")).rejects.toMatchObject({ code: "ESTALE" });
      await expect(makeDirectory(join(data, "partial"))).rejects.toMatchObject({ code: "ESTALE" });
      expect(await readdir(data)).toEqual([]);
      await rm(data, { recursive: true });

      // Back in place: writes go on.
      await rename(`${data}.away`, data);
      expect(await dataFolderProblem(data)).toBeUndefined();
      await writeFileAtomic(join(data, "links", "r", "y"), "{}");
      expect(await readFile(join(data, "links", "r", "y"), "utf8")).toBe("{}");
    } finally {
      release();
    }
    // Released (the agent stopped): an ordinary mkdir -p again.
    await rm(data, { recursive: true });
    await writeFileAtomic(join(data, "state.json"), "{}");
    expect(existsSync(join(data, "state.json"))).toBe(true);
  });
});
