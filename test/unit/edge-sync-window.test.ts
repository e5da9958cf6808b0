/** The sync window as a running sync sees it (edge-agent/src/sync/sync-window.ts, syncWindowEnd). */
import { describe, expect, it } from "vitest";
import { syncWindowEnd } from "../../shared/domain/connected-registry/index.js";
import type { EdgeConfiguration } from "../../shared/sync/configuration.js";
import { SyncWindow, WindowClosedError, windowClosedIn } from "../../edge-agent/src/sync/sync-window.js";

const utc = (text: string): Date => new Date(`${text}Z`);

function configuration(schedule: string, syncWindow: string | null): EdgeConfiguration {
  return { name: "edge", mode: "ReadOnly", parent: null, repositories: [], schedule, syncWindow, messageTtl: "P2D", logging: "Information", children: [], clientTokens: [], version: schedule };
}

describe("syncWindowEnd (UTC)", () => {
  it("is the end of the window the time falls in", () => {
    expect(syncWindowEnd("0 2 * * *", "PT4H", utc("2024-05-01T03:00:00"))).toBe(utc("2024-05-01T06:00:00").getTime());
  });

  it("is at or before the time outside every window, and never for a continuous schedule", () => {
    expect(syncWindowEnd("0 2 * * *", "PT4H", utc("2024-05-01T07:00:00"))).toBeLessThanOrEqual(utc("2024-05-01T07:00:00").getTime());
    expect(syncWindowEnd("* * * * *", undefined, utc("2024-05-01T07:00:00"))).toBe(Infinity);
  });
});

describe("SyncWindow", () => {
  it("closes while a sync runs when its clock passes the window's end, naming the next window", () => {
    let now = utc("2030-01-01T10:30:00");
    const window = new SyncWindow(() => now, () => configuration("0 */2 * * *", "PT1H"));
    expect(window.msUntilOpen()).toBe(0);
    expect(() => window.throwIfClosed()).not.toThrow();
    now = utc("2030-01-01T10:59:59.999");
    expect(window.closed).toBe(false);
    now = utc("2030-01-01T11:00:00");
    expect(window.closed).toBe(true);
    let thrown: unknown;
    try {
      window.throwIfClosed();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WindowClosedError);
    expect((thrown as WindowClosedError).nextWindowAt.toISOString()).toBe("2030-01-01T12:00:00.000Z");
    expect(window.msUntilOpen()).toBe(60 * 60 * 1000);
    now = utc("2030-01-01T12:00:00");
    expect(window.closed).toBe(false);
  });

  it("stays open across windows that overlap, and always for a continuous schedule", () => {
    let now = utc("2030-01-01T10:30:00");
    const overlapping = new SyncWindow(() => now, () => configuration("0 * * * *", "PT2H"));
    expect(overlapping.closed).toBe(false);
    now = utc("2030-01-01T12:45:00"); // past the 10:00 window's end, inside the 12:00 one
    expect(overlapping.closed).toBe(false);
    const continuous = new SyncWindow(() => now, () => configuration("* * * * *", null));
    expect(continuous.closed).toBe(false);
    expect(continuous.msUntilOpen()).toBe(0);
  });

  it("follows a configuration that changes mid-sync", () => {
    const now = utc("2030-01-01T10:30:00");
    let current = configuration("* * * * *", null);
    const window = new SyncWindow(() => now, () => current);
    expect(window.closed).toBe(false);
    current = configuration("0 2 * * *", "PT1H");
    expect(window.closed).toBe(true);
  });

  it("finds the window behind an HTTP client's wrapping of a cut request body", () => {
    const closed = new WindowClosedError(utc("2030-01-01T12:00:00"));
    expect(windowClosedIn(new Error("request failed", { cause: closed }))).toBe(closed);
    expect(windowClosedIn(new Error("other"))).toBeUndefined();
  });
});
