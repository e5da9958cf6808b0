/** The edge's pending notifications (edge-agent/src/notifications.ts): filtered by the patterns, kept across a restart, dropped once accepted. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../../edge-agent/src/log.js";
import { EdgeNotifications } from "../../edge-agent/src/notifications.js";

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
  });

  it("starts empty, with a warning, when the file is damaged", async () => {
    const dataDir = await folder();
    await writeFile(join(dataDir, "notifications.json"), "[{not json");
    const notifications = await EdgeNotifications.open(dataDir, () => ["*:*:*"], log);
    expect(notifications.pending(10)).toEqual([]);
    expect(lines.some((line) => String(line.msg ?? line.message).includes("could not be read"))).toBe(true);
  });
});
