import { describe, expect, it } from "vitest";
import { boundedInventory, inventoryDigest, STATUS_HISTORY_LENGTH, withStatusHistory } from "../../../shared/domain/connected-registry/index.js";

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;

describe("an edge's inventory", () => {
  it("has the same digest whatever order the edge listed its tags in, and another one when a tag moves", () => {
    const entries = [
      { repository: "b/app", tag: "v1", digest: digest(1) },
      { repository: "a", tag: "latest", digest: digest(2) },
      { repository: "a", tag: "V2", digest: digest(3) },
    ];
    const forward = boundedInventory(entries);
    const backward = boundedInventory([...entries].reverse());
    expect(inventoryDigest(forward)).toBe(inventoryDigest(backward));
    expect(Object.keys(forward.repositories)).toEqual(["a", "b/app"]);
    expect(Object.keys(forward.repositories.a!)).toEqual(["V2", "latest"]);
    const moved = boundedInventory([...entries.slice(0, 2), { repository: "a", tag: "V2", digest: digest(4) }]);
    expect(inventoryDigest(moved)).not.toBe(inventoryDigest(forward));
  });

  it("keeps the first tags in sorted order past the limit and says it was cut", () => {
    const entries = Array.from({ length: 5 }, (_, i) => ({ repository: "r", tag: `t${i}`, digest: digest(i) }));
    const cut = boundedInventory(entries, 3);
    expect(cut).toEqual({ repositories: { r: { t0: digest(0), t1: digest(1), t2: digest(2) } }, truncated: true });
    expect(inventoryDigest(cut)).not.toBe(inventoryDigest({ ...cut, truncated: false }));
  });
});

describe("a connected registry's status history", () => {
  const record = (connectionState: "Online" | "Offline" | "Syncing", codes: string[] = [], status: "Active" | "Inactive" = "Active") => ({
    connectionState,
    activation: { status },
    statusDetails: codes.map((code) => ({ code })),
  });

  it("records a change of state, activation or problem codes, but not Online <-> Syncing", () => {
    let current = withStatusHistory(record("Offline", [], "Inactive"), record("Online"), "t1");
    current = withStatusHistory(current, { ...record("Syncing"), statusHistory: current.statusHistory }, "t2");
    current = withStatusHistory(current, { ...record("Online", ["DISK_ERROR", "DISK_ERROR"]), statusHistory: current.statusHistory }, "t3");
    current = withStatusHistory(current, { ...record("Offline", ["DISK_ERROR"]), statusHistory: current.statusHistory }, "t4");
    expect(current.statusHistory).toEqual([
      { timestamp: "t1", connectionState: "Online", activation: "Active", codes: [] },
      { timestamp: "t3", connectionState: "Online", activation: "Active", codes: ["DISK_ERROR"] },
      { timestamp: "t4", connectionState: "Offline", activation: "Active", codes: ["DISK_ERROR"] },
    ]);
  });

  it("keeps only the last entries", () => {
    let current: ReturnType<typeof record> & { statusHistory?: unknown[] } = record("Offline");
    for (let i = 0; i < STATUS_HISTORY_LENGTH + 5; i++) {
      current = withStatusHistory(current as never, { ...record(i % 2 ? "Offline" : "Online"), statusHistory: current.statusHistory as never }, `t${i}`);
    }
    expect(current.statusHistory).toHaveLength(STATUS_HISTORY_LENGTH);
    expect((current.statusHistory![0] as { timestamp: string }).timestamp).toBe("t5");
  });
});
