import { describe, expect, it } from "vitest";
import { withCondition } from "../../edge-agent/src/conditions.js";
import { initialState } from "../../edge-agent/src/state.js";
import { formatStatus, statusView } from "../../edge-agent/src/status.js";

describe("the edge's own status (GET /status, connected-registry status)", () => {
  const state = {
    ...initialState(),
    connectedRegistryName: "factory1",
    lastSyncTime: "2026-12-01T10:00:00.000Z",
    syncTrigger: "manual" as const,
    lastResync: "20261201T095900Z-0a1b2c3d",
    conditions: withCondition(undefined, "DISK_STORAGE_FULL", "the storage budget of 1.0 GiB is reached", new Date("2026-12-01T09:00:00Z")),
  };

  it("shows what is wrong by code, what started the last sync and the resync it carried out", () => {
    expect(statusView(state, { names: false })).toMatchObject({
      lastSyncTrigger: "manual",
      lastResync: "20261201T095900Z-0a1b2c3d",
      conditions: [{ code: "DISK_STORAGE_FULL", since: "2026-12-01T09:00:00.000Z" }],
    });
    const text = formatStatus(state);
    expect(text).toContain("last sync:          2026-12-01T10:00:00.000Z (manual)");
    expect(text).toContain("condition:          DISK_STORAGE_FULL since 2026-12-01T09:00:00.000Z: the storage budget of 1.0 GiB is reached");
  });

  it("says nothing is wrong by listing no condition", () => {
    const text = formatStatus({ ...state, conditions: [] });
    expect(text).not.toContain("condition:");
  });

  it("lists parked upstream entries (ReadWrite), in the view and as lines for a person", () => {
    const parked = {
      ...state,
      upstreamParked: [
        { seq: 7, repository: "apps/big", kind: "tag.set", tag: "v2", digest: "sha256:abc", error: "5 tries failed: connection reset", since: "2026-12-01T09:30:00.000Z", lastTried: "2026-12-01T09:31:00.000Z", retries: 1 },
      ],
    };
    expect(statusView(parked, { names: false })).toMatchObject({ parkedUpstream: [{ repository: "apps/big", kind: "tag.set", tag: "v2", error: "5 tries failed: connection reset" }] });
    expect(formatStatus(parked)).toContain("parked:             upstream tag.set apps/big:v2 (since 2026-12-01T09:30:00.000Z, last tried 2026-12-01T09:31:00.000Z): 5 tries failed: connection reset");
    expect(formatStatus(state)).not.toContain("parked:");
  });
});
