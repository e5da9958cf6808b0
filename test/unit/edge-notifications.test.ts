/** The edge's pending notifications (edge-agent/src/notifications.ts): filtered by the patterns, kept across a restart, dropped once accepted. */
import { readFileSync } from "node:fs";
import { appendFile, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../../edge-agent/src/log.js";
import { EdgeNotifications } from "../../edge-agent/src/notifications.js";
import { openFilesUnder } from "../support/open-files.js";

const folders: string[] = [];
afterAll(async () => Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true }))));
async function folder(): Promise<string> {
  const made = await mkdtemp(join(tmpdir(), "edge-notifications-"));
  folders.push(made);
  return made;
}
const lines: Array<Record<string, unknown>> = [];
const log = createLogger("info", (line) => lines.push(JSON.parse(line) as Record<string, unknown>));

describe("edge notifications", () => {
  it("keeps only events matching the patterns, across a restart, until the parent accepts them", async () => {
    const dataDir = await folder();
    const patterns = ["app:v*:push", "app:*:delete"];
    const first = await EdgeNotifications.open(dataDir, () => patterns, log);
    await first.emit({ action: "push", target: { repository: "app", tag: "v1", digest: "sha256:a" } });
    await first.emit({ action: "push", target: { repository: "app", tag: "dev", digest: "sha256:b" } });
    await first.emit({ action: "delete", target: { repository: "app", digest: "sha256:a" } });
    await first.emit({ action: "push", target: { repository: "other", tag: "v1" } });
    expect(first.pending(10).map((e) => [e.action, e.tag ?? null])).toEqual([["push", "v1"], ["delete", null]]);

    const reopened = await EdgeNotifications.open(dataDir, () => patterns, log);
    const pending = reopened.pending(10);
    expect(pending.map((e) => e.id)).toEqual(first.pending(10).map((e) => e.id));
    expect(reopened.pending(1)).toHaveLength(1);
    await reopened.accepted([pending[0]!.id]);
    expect((await EdgeNotifications.open(dataDir, () => patterns, log)).pending(10).map((e) => e.id)).toEqual([pending[1]!.id]);
    await Promise.all([first.close(), reopened.close()]);
  });

  it("starts empty, with a warning, when the file is damaged", async () => {
    const dataDir = await folder();
    await writeFile(join(dataDir, "notifications.json"), "[{not json");
    const notifications = await EdgeNotifications.open(dataDir, () => ["*:*:*"], log);
    expect(notifications.pending(10)).toEqual([]);
    expect(lines.some((line) => String(line.msg ?? line.message).includes("could not be read"))).toBe(true);
  });

  it("writes O(n) bytes for a first sync that matches 2,000 images, not the whole list again per event", async () => {
    const dataDir = await folder();
    const notifications = await EdgeNotifications.open(dataDir, () => ["*:*:*"], log);
    const before = bytesWritten();
    for (let i = 0; i < 2000; i++) await notifications.emit({ action: "push", target: { repository: `app${i % 20}`, tag: `v${i}`, digest: `sha256:${String(i).padStart(64, "0")}`, mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1234 } });
    const written = bytesWritten() - before;
    const onDisk = await sizeOfFiles(dataDir);
    console.log(`2,000 notifications: ${written} bytes written by the process, ${onDisk} on disk`);
    // Each event once, plus slack for the test runner's own writes; rewriting the list per event is ~1,000x.
    expect(written).toBeLessThan(onDisk * 4 + 256 * 1024);
    // Acknowledged means on disk: a fresh reader (the agent after a crash) has every one, in order.
    const reopened = await EdgeNotifications.open(dataDir, () => ["*:*:*"], log);
    expect(reopened.pending(5000).map((e) => e.tag)).toEqual(Array.from({ length: 2000 }, (_, i) => `v${i}`));
    // Accepting compacts: what the parent took is gone from the file too.
    await reopened.accepted(reopened.pending(1990).map((e) => e.id));
    expect(await sizeOfFiles(dataDir)).toBeLessThan(onDisk / 100);
    expect((await EdgeNotifications.open(dataDir, () => ["*:*:*"], log)).pending(5000).map((e) => e.tag)).toEqual(Array.from({ length: 10 }, (_, i) => `v${1990 + i}`));
    await Promise.all([notifications.close(), reopened.close()]);
  });

  it("keeps the events before a line a crash cut short, and events emitted at once are all kept", async () => {
    const dataDir = await folder();
    const notifications = await EdgeNotifications.open(dataDir, () => ["*:*:*"], log);
    await Promise.all(Array.from({ length: 50 }, (_, i) => notifications.emit({ action: "push", target: { repository: "app", tag: `c${i}` } })));
    const [file] = (await sizeOfFiles(dataDir, true)) as string[];
    await appendFile(join(dataDir, file!), '{"id":"half-writ');
    const reopened = await EdgeNotifications.open(dataDir, () => ["*:*:*"], log);
    expect(reopened.pending(100).map((e) => e.tag).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `c${i}`).sort());
    await reopened.emit({ action: "push", target: { repository: "app", tag: "after" } });
    expect((await EdgeNotifications.open(dataDir, () => ["*:*:*"], log)).pending(100)).toHaveLength(51);
    await Promise.all([notifications.close(), reopened.close()]);
  });

  it("closes its file once the writes queued before are done (an agent stopped in a process that goes on)", async () => {
    const dataDir = await folder();
    const notifications = await EdgeNotifications.open(dataDir, () => ["*:*:*"], log);
    const emitted = notifications.emit({ action: "push", target: { repository: "app", tag: "v1" } });
    await notifications.close();
    await emitted;
    // Left open, the descriptor waited for the garbage collector ("Closing file descriptor N on garbage collection").
    expect(openFilesUnder(dataDir)).toEqual([]);
    expect((await EdgeNotifications.open(dataDir, () => ["*:*:*"], log)).pending(10).map((e) => e.tag)).toEqual(["v1"]);
  });
});

/** Bytes this process wrote (Linux /proc/self/io `wchar`: every write call, whatever the file system caches). */
function bytesWritten(): number {
  return Number(/^wchar: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"))![1]);
}

async function sizeOfFiles(dir: string, names = false): Promise<number | string[]> {
  const entries = (await readdir(dir)).filter((name) => !name.startsWith("."));
  if (names) return entries;
  let total = 0;
  for (const name of entries) total += (await stat(join(dir, name))).size;
  return total;
}
