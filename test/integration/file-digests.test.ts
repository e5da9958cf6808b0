/**
 * Whole-file digests on a worker thread (edge-agent/src/store/file-digests.ts): what verifies
 * every blob a sync downloads before it becomes visible. Imported from dist/ (run
 * `npx tsc -p tsconfig.json` first), like the other edge tests.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileDigests } from "../../dist/edge-agent/src/store/file-digests.js";

let dir: string;
const digests = new FileDigests();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "file-digests-"));
});
afterAll(async () => {
  await digests.close();
  await rm(dir, { recursive: true, force: true });
});

describe("FileDigests", () => {
  it("gives the sha256 and sha512 of files, several at once, empty and multi-MiB ones", async () => {
    const contents = [Buffer.alloc(0), randomBytes(10), randomBytes(3 * 1024 * 1024 + 7), randomBytes(1024 * 1024)];
    const paths = await Promise.all(
      contents.map(async (content, i) => {
        const path = join(dir, `f${i}`);
        await writeFile(path, content);
        return path;
      }),
    );
    const got = await Promise.all(paths.flatMap((path) => [digests.digest(path, "sha256"), digests.digest(path, "sha512")]));
    const expected = contents.flatMap((content) => [
      `sha256:${createHash("sha256").update(content).digest("hex")}`,
      `sha512:${createHash("sha512").update(content).digest("hex")}`,
    ]);
    expect(got).toEqual(expected);
  });

  it("rejects with the file system's code for a missing file, and goes on working", async () => {
    await expect(digests.digest(join(dir, "missing"), "sha256")).rejects.toMatchObject({ code: "ENOENT" });
    const path = join(dir, "after");
    await writeFile(path, "after");
    expect(await digests.digest(path, "sha256")).toBe(`sha256:${createHash("sha256").update("after").digest("hex")}`);
  });

  it("starts a new worker after close", async () => {
    const path = join(dir, "again");
    await writeFile(path, "again");
    await digests.close();
    expect(await digests.digest(path, "sha256")).toBe(`sha256:${createHash("sha256").update("again").digest("hex")}`);
  });
});
