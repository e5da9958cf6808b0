import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCosmosClient } from "../../shared/composition.js";
import { ChangeLog, type FeedEntry } from "../../shared/registry/change-log.js";
import { SequenceTakenError } from "../../shared/store/change-store.js";
import { CosmosChangeStore } from "../../shared/store/cosmos/change-store.js";
import { CHANGES_CONTAINER } from "../../shared/store/cosmos/containers.js";
import { RegistryClient } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the change log", () => {
  let stack: TestStack;
  let registry: RegistryClient;
  let store: CosmosChangeStore;

  beforeAll(async () => {
    stack = await startTestStack({ settings: { CHANGE_FEED_GRACE_SECONDS: "4" } });
    registry = new RegistryClient(stack.registryUrl);
    store = new CosmosChangeStore(
      createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE).container(CHANGES_CONTAINER.id),
      stack.config.REGISTRY_NAME,
    );
  });
  afterAll(async () => stack?.destroy());

  /** Reads the whole feed after `cursor`, page by page, as an edge would. */
  async function readAll(log: ChangeLog, cursor: number, pageSize = 50): Promise<{ entries: FeedEntry[]; cursor: number }> {
    const entries: FeedEntry[] = [];
    for (;;) {
      const page = await log.read(cursor, pageSize);
      entries.push(...page.entries);
      cursor = page.settled;
      if (!page.more) return { entries, cursor };
    }
  }

  it("records pushes, tag moves and deletes in the order they happened", async () => {
    const log = new ChangeLog(store, { graceMs: 1000 });
    const start = (await readAll(log, 0)).cursor;
    const first = await registry.pushImage("feed/ordered", "v1");
    const second = await registry.pushImage("feed/ordered", "v1");
    await registry.fetch("/v2/feed/ordered/manifests/v1", { method: "DELETE" });
    await registry.fetch(`/v2/feed/ordered/manifests/${first.digest}`, { method: "DELETE" });
    const { entries } = await readAll(log, start);
    expect(entries.map((e) => [e.kind, e.tag ?? e.digest, e.state])).toEqual([
      ["tag.set", "v1", "committed"],
      ["tag.set", "v1", "committed"],
      ["tag.delete", "v1", "committed"],
      ["manifest.delete", first.digest, "committed"],
    ]);
    expect(entries[1]!.digest).toBe(second.digest);
    expect(entries.every((e) => e.repository === "feed/ordered")).toBe(true);
  });

  it("does not record a refused change", async () => {
    const log = new ChangeLog(store, { graceMs: 1000 });
    const start = (await readAll(log, 0)).cursor;
    const response = await registry.putManifest("feed/refused", "v1", { schemaVersion: 2, layers: [] });
    expect(response.status).toBe(400);
    expect((await registry.fetch("/v2/feed/refused/manifests/v9", { method: "DELETE" })).status).toBe(404);
    expect((await readAll(log, start)).entries).toEqual([]);
  });

  it("loses nothing when 20 writers push concurrently while a reader pages through it", async () => {
    const log = new ChangeLog(store, { graceMs: 1000 });
    let cursor = (await readAll(log, 0)).cursor;
    const seen: FeedEntry[] = [];
    let writing = true;
    const reader = (async () => {
      // Small pages, read while the writers run, exactly as a continuously syncing edge.
      while (writing) {
        const page = await log.read(cursor, 7);
        seen.push(...page.entries);
        cursor = page.settled;
        if (!page.more) await sleep(20);
      }
    })();
    const pushed: string[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, writer) => {
        for (let i = 0; i < 4; i++) {
          const image = await registry.pushImage(`feed/writer${writer}`, `t${i}`, { annotations: { nonce: randomBytes(4).toString("hex") } });
          pushed.push(`feed/writer${writer}:t${i}@${image.digest}`);
        }
      }),
    );
    writing = false;
    await reader;
    // Whatever the reader had not settled yet, it gets on its next reads.
    await sleep(1100);
    const rest = await readAll(log, cursor, 7);
    seen.push(...rest.entries);

    const recorded = seen.filter((e) => e.repository.startsWith("feed/writer")).map((e) => `${e.repository}:${e.tag}@${e.digest}`);
    expect(recorded.sort()).toEqual(pushed.sort());
    const sequence = seen.map((e) => e.seq);
    expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
    expect(new Set(sequence).size).toBe(sequence.length);
    expect(seen.every((e) => e.state === "committed")).toBe(true);
  });

  it("waits for a writer that is mid-change, then hands its entry on as unconfirmed if it never finishes", async () => {
    const log = new ChangeLog(store, { graceMs: 600 });
    const start = (await readAll(log, 0)).cursor;
    // A writer that wrote ahead and then died before making its change.
    const seq = await store.nextSequence();
    await store.create({ seq, state: "pending", repository: "feed/crashed", kind: "tag.set", tag: "v1", createdAt: new Date().toISOString() });
    await registry.pushImage("feed/after-crash", "v1");

    const early = await log.read(start, 50);
    expect(early.settled).toBe(seq - 1);
    expect(early.entries).toEqual([]);

    await sleep(700);
    const late = await readAll(log, start);
    expect(late.entries.map((e) => [e.repository, e.state])).toEqual([
      ["feed/crashed", "unconfirmed"],
      ["feed/after-crash", "committed"],
    ]);
  });

  it("voids a number its writer never used, and that writer takes another", async () => {
    const log = new ChangeLog(store, { graceMs: 600 });
    const start = (await readAll(log, 0)).cursor;
    const lost = await store.nextSequence();
    await registry.pushImage("feed/after-gap", "v1");

    expect((await log.read(start, 50)).settled).toBe(lost - 1);
    await sleep(700);
    const settled = await readAll(log, start);
    expect(settled.entries.map((e) => e.repository)).toEqual(["feed/after-gap"]);
    expect(settled.cursor).toBeGreaterThan(lost);

    // The writer wakes up: its number is gone, so its entry cannot appear behind the reader.
    await expect(store.create({ seq: lost, state: "pending", repository: "feed/late", kind: "tag.set", createdAt: new Date().toISOString() })).rejects.toBeInstanceOf(
      SequenceTakenError,
    );
  });

  it("purges entries past the retention, and keeps the rest", async () => {
    const log = new ChangeLog(store, { graceMs: 1000 });
    const old = await store.nextSequence();
    await store.create({ seq: old, state: "committed", repository: "feed/ancient", kind: "tag.set", tag: "v1", createdAt: new Date(Date.now() - 91 * 86_400_000).toISOString() });
    await registry.pushImage("feed/recent", "v1");
    const before = (await readAll(log, 0)).entries.map((e) => e.repository);
    expect(before).toContain("feed/ancient");
    expect(await log.purge(90 * 86_400_000, 1000)).toBe(1);
    // A purged number reads like a gap; once settled, the reader moves past it.
    await sleep(1100);
    const after = (await readAll(log, 0)).entries.map((e) => e.repository);
    expect(after).not.toContain("feed/ancient");
    expect(after).toContain("feed/recent");
  });

  it("tells a reader whose history was rewritten (a restore, a new epoch) apart from one that is merely behind", async () => {
    // A log of its own (another partition), so the restore below touches nothing else.
    const registryName = `rewrite${randomBytes(4).toString("hex")}`;
    const container = createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE).container(CHANGES_CONTAINER.id);
    const own = new CosmosChangeStore(container, registryName);
    const log = new ChangeLog(own, { graceMs: 1000 });
    const change = (tag: string) => log.record({ repository: "rewrite/app", kind: "tag.set", tag, digest: `sha256:${"0".repeat(64)}` }, async () => undefined);
    const start = await log.startingPosition();
    expect(start.seq).toBe(0);

    await change("a");
    const backup = (await container.item("sequence", registryName).read()).resource;
    await change("b");
    await change("c");
    const behind = await log.readFrom(start, 10);
    expect(behind.entries.map((e) => e.tag)).toEqual(["a", "b", "c"]);
    const reader = behind.position;
    // Behind or up to date in the same history: read on as usual.
    expect((await log.readFrom(reader, 10)).entries).toEqual([]);

    // "Restore" the log to the backup: the sequence document and the entries as they were after "a".
    await container.item("sequence", registryName).replace(backup);
    for (const seq of [reader.seq - 1, reader.seq]) await container.item(`change:${seq}`, registryName).delete();
    // Nothing written since: the reader is beyond the head.
    await expect(log.readFrom(reader, 10)).rejects.toMatchObject({ reason: "beyond-head" });
    // New writes take the same numbers again: only the entry's fingerprint tells them apart.
    await change("d");
    await change("e");
    expect((await own.head()).seq).toBe(reader.seq);
    await expect(log.readFrom(reader, 10)).rejects.toMatchObject({ reason: "anchor" });
    // A reader that started before the backup point is still in this history.
    expect((await log.readFrom(start, 10)).entries.map((e) => e.tag)).toEqual(["a", "d", "e"]);

    // An explicit new epoch (docs/operations.md): every position issued before is refused.
    const current = (await log.readFrom(start, 10)).position;
    await log.startEpoch();
    await expect(log.readFrom(current, 10)).rejects.toMatchObject({ reason: "epoch" });
    await expect(log.readFrom(start, 10)).rejects.toMatchObject({ reason: "epoch" });
    const fresh = await log.startingPosition();
    expect(fresh.seq).toBe(current.seq);
    expect((await log.readFrom(fresh, 10)).entries).toEqual([]);
  });

  it("gives a log from before epochs an epoch once, and keeps it", async () => {
    const registryName = `legacy${randomBytes(4).toString("hex")}`;
    const container = createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE).container(CHANGES_CONTAINER.id);
    await container.items.create({ id: "sequence", registry: registryName, type: "sequence", value: 7 });
    const legacy = new CosmosChangeStore(container, registryName);
    const [first, second] = await Promise.all([legacy.head(), legacy.head()]);
    expect(first).toEqual({ seq: 7, epoch: expect.any(String) });
    expect(second).toEqual(first);
    expect(await new CosmosChangeStore(container, registryName).head()).toEqual(first);
    expect(await legacy.nextSequence()).toBe(8);
    expect((await legacy.head()).epoch).toBe(first.epoch);
  });
});
