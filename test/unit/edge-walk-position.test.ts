/** Where an interrupted walk resumes (edge-agent/src/sync/walk-position.ts), on a real state file. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { StateFile } from "../../edge-agent/src/state.js";
import { WalkPosition } from "../../edge-agent/src/sync/walk-position.js";

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

async function freshState(): Promise<{ state: StateFile; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "walk-position-"));
  folders.push(dir);
  const state = await StateFile.open(dir);
  await state.update((s) => {
    s.fullSyncFrom = "cursor-1";
  });
  return { state, dir };
}

describe("WalkPosition", () => {
  it("resumes a full sync after a restart with the repositories and tags it finished", async () => {
    const { state, dir } = await freshState();
    const walk = new WalkPosition(state);
    walk.repositoryWalked("a");
    walk.tagDone("b", "v1");
    walk.tagDone("b", "v2");
    await state.close();

    const reopened = new WalkPosition(await StateFile.open(dir));
    expect([...reopened.walkedRepositories()]).toEqual(["a"]);
    expect([...reopened.resume("b")].sort()).toEqual(["v1", "v2"]);
    expect(reopened.resume("c").size).toBe(0);
  });

  it("forgets a repository's tags once its walk finished", async () => {
    const { state } = await freshState();
    const walk = new WalkPosition(state);
    walk.tagDone("b", "v1");
    walk.repositoryFinished("b");
    expect(walk.resume("b").size).toBe(0);
  });

  it("ignores a position from another full sync (a new starting cursor: expired, resync)", async () => {
    const { state } = await freshState();
    const walk = new WalkPosition(state);
    walk.repositoryWalked("a");
    walk.tagDone("b", "v1");
    await state.update((s) => {
      s.fullSyncFrom = "cursor-2";
    });
    expect(walk.walkedRepositories().size).toBe(0);
    expect(walk.resume("b").size).toBe(0);
    // Once the feed runs, a walk (a repository new in scope) has its own basis.
    await state.update((s) => {
      s.cursor = "cursor-3";
    });
    walk.tagDone("b", "v9");
    expect([...walk.resume("b")]).toEqual(["v9"]);
  });

  it("keeps an operator's resync walk apart: resumed for the same request, ignored for a new one", async () => {
    const { state } = await freshState();
    await state.update((s) => {
      s.cursor = "cursor-1";
      s.configuration = { resync: "request-1" } as unknown as NonNullable<typeof s.configuration>;
    });
    const walk = new WalkPosition(state);
    walk.repositoryWalked("a");
    walk.tagDone("b", "v1");
    expect([...walk.walkedRepositories()]).toEqual(["a"]);
    expect([...walk.resume("b")]).toEqual(["v1"]);
    await state.update((s) => {
      s.configuration = { resync: "request-2" } as unknown as NonNullable<typeof s.configuration>;
    });
    expect(walk.walkedRepositories().size).toBe(0);
    expect(walk.resume("b").size).toBe(0);
  });
});
