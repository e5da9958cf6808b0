import { describe, expect, it } from "vitest";
import { changeGarbageCollection, checkSyncBandwidth, garbageCollectionOf, syncBandwidthOf } from "../../../shared/domain/connected-registry/index.js";

describe("edge upkeep settings", () => {
  it("gives records made before the settings the defaults: collection on, daily at 03:00 UTC, no bandwidth cap", () => {
    expect(garbageCollectionOf(undefined)).toEqual({ enabled: true, schedule: "0 3 * * *" });
    expect(syncBandwidthOf(undefined)).toBeNull();
  });

  it("changes one garbage-collection field and keeps the other", () => {
    expect(changeGarbageCollection({ enabled: true, schedule: "0 4 * * *" }, { enabled: false })).toEqual({ ok: true, value: { enabled: false, schedule: "0 4 * * *" } });
    expect(changeGarbageCollection(undefined, { schedule: "30 1 * * 6" })).toEqual({ ok: true, value: { enabled: true, schedule: "30 1 * * 6" } });
  });

  it("refuses a schedule that is not 5-field cron, naming the field and the value", () => {
    for (const schedule of ["0 3 * *", "61 * * * *", "@daily", "H 3 * * *"]) {
      const checked = changeGarbageCollection(undefined, { schedule });
      expect(checked.ok).toBe(false);
      if (!checked.ok) expect(checked.message).toMatch(new RegExp(`^invalid garbageCollection\\.schedule: "${schedule.replace(/[*@]/g, "\\$&")}"`));
    }
  });

  it("keeps a valid bandwidth as written, takes null for no cap, and refuses the rest naming syncBandwidth", () => {
    expect(checkSyncBandwidth("20Mbps")).toEqual({ ok: true, value: "20Mbps" });
    expect(checkSyncBandwidth(" 5MB/s ")).toEqual({ ok: true, value: "5MB/s" });
    expect(checkSyncBandwidth(null)).toEqual({ ok: true, value: null });
    for (const text of ["fast", "20", "100bps", "-5Mbps"]) {
      const checked = checkSyncBandwidth(text);
      expect(checked.ok).toBe(false);
      if (!checked.ok) expect(checked.message).toContain(`invalid syncBandwidth: "${text}"`);
    }
  });
});
