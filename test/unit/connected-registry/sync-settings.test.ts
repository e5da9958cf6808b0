import { describe, expect, it } from "vitest";
import {
  durationMilliseconds,
  isContinuous,
  isInsideWindow,
  nextSyncStart,
  validateSyncSettings,
  type SyncSettingsResult,
} from "../../../shared/domain/connected-registry/index.js";

function refusal(result: SyncSettingsResult): string {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.settings)}`);
  return result.message;
}

const utc = (text: string): Date => new Date(`${text}Z`);

describe("sync settings: defaults", () => {
  it("fills in a continuous schedule, no window and a two-day message TTL", () => {
    expect(validateSyncSettings({})).toEqual({ ok: true, settings: { schedule: "* * * * *", messageTtl: "P2D" } });
  });

  it("keeps a schedule with its window", () => {
    expect(validateSyncSettings({ schedule: "0 2 * * *", syncWindow: "PT4H", messageTtl: "P7D" })).toEqual({
      ok: true,
      settings: { schedule: "0 2 * * *", syncWindow: "PT4H", messageTtl: "P7D" },
    });
  });
});

describe("sync settings: schedule", () => {
  it.each([
    ["an out-of-range minute", "61 * * * *"],
    ["letters", "a b c d e"],
    ["an impossible date", "0 0 30 2 *"],
  ])("refuses %s, naming the field and the value", (_what, schedule) => {
    const message = refusal(validateSyncSettings({ schedule, syncWindow: "PT1H" }));
    expect(message).toContain(`schedule: "${schedule}" is not a valid cron expression`);
  });

  it.each([
    ["six fields (with seconds)", "0 0 2 * * *", 6],
    ["four fields", "0 2 * *", 4],
    ["a macro", "@daily", 1],
    ["nothing", "", 0],
  ])("refuses %s: a schedule has 5 fields", (_what, schedule, count) => {
    expect(refusal(validateSyncSettings({ schedule, syncWindow: "PT1H" }))).toContain(
      `schedule: "${schedule}" is not a cron expression of 5 fields (minute hour day-of-month month day-of-week); it has ${count}`,
    );
  });

  it("refuses cron-parser's hashed H, whose meaning depends on a seed", () => {
    expect(refusal(validateSyncSettings({ schedule: "H 2 * * *", syncWindow: "PT1H" }))).toContain('uses "H"');
  });

  it("accepts day and month names, including thu", () => {
    expect(validateSyncSettings({ schedule: "0 2 * jan-dec mon-thu", syncWindow: "PT1H" }).ok).toBe(true);
  });

  it("refuses a schedule that is not a string", () => {
    expect(refusal(validateSyncSettings({ schedule: 5 }))).toMatch(/^invalid sync settings: schedule: /);
  });
});

describe("sync settings: syncWindow", () => {
  it("refuses a window without a schedule, saying a continuous schedule has no window", () => {
    expect(refusal(validateSyncSettings({ syncWindow: "PT2H" }))).toBe(
      'invalid sync settings: syncWindow: "PT2H" is only allowed with a schedule that is not continuous, and schedule "* * * * *" syncs continuously; set a schedule or remove syncWindow',
    );
  });

  it("refuses a window with a schedule that is continuous in other words", () => {
    expect(refusal(validateSyncSettings({ schedule: "*/1 * * * *", syncWindow: "PT2H" }))).toContain("only allowed with a schedule that is not continuous");
  });

  it("requires a window with a schedule that is not continuous", () => {
    expect(refusal(validateSyncSettings({ schedule: "0 2 * * *" }))).toContain('syncWindow: is required with schedule "0 2 * * *"');
  });

  it.each(["PT1H", "PT60M", "P1D", "P7D", "P1W", "PT168H", "PT1.5H"])("accepts %s", (syncWindow) => {
    expect(validateSyncSettings({ schedule: "0 2 * * *", syncWindow }).ok).toBe(true);
  });

  it.each(["PT59M", "PT59M59S", "P7DT1S", "P8D", "P2W", "-PT2H", "PT0S"])("refuses %s as out of range", (syncWindow) => {
    expect(refusal(validateSyncSettings({ schedule: "0 2 * * *", syncWindow }))).toContain(
      `syncWindow: "${syncWindow}" is out of range: use a duration between 1 hour (PT1H) and 7 days (P7D)`,
    );
  });

  it.each(["2h", "PT2", "P2D ", "2 hours"])("refuses %j as not an ISO 8601 duration", (syncWindow) => {
    expect(refusal(validateSyncSettings({ schedule: "0 2 * * *", syncWindow }))).toContain(`syncWindow: "${syncWindow}" is not an ISO 8601 duration`);
  });
});

describe("sync settings: messageTtl", () => {
  it.each(["P1D", "PT24H", "P2D", "P90D"])("accepts %s", (messageTtl) => {
    expect(validateSyncSettings({ messageTtl }).ok).toBe(true);
  });

  it.each(["PT23H", "PT23H59M59S", "P91D", "P90DT1S", "P13W"])("refuses %s, naming the field, the value and the range", (messageTtl) => {
    expect(refusal(validateSyncSettings({ messageTtl }))).toBe(
      `invalid sync settings: messageTtl: "${messageTtl}" is out of range: use a duration between 1 day (P1D) and 90 days (P90D)`,
    );
  });

  it.each(["P1M", "P3M", "P1Y"])("refuses %s: months and years have no fixed length", (messageTtl) => {
    expect(refusal(validateSyncSettings({ messageTtl }))).toContain(`messageTtl: "${messageTtl}" uses years or months`);
  });

  it("reports every bad field at once", () => {
    const message = refusal(validateSyncSettings({ schedule: "0 2 * * *", syncWindow: "PT30M", messageTtl: "P100D" }));
    expect(message).toContain('syncWindow: "PT30M"');
    expect(message).toContain('messageTtl: "P100D"');
  });
});

describe("durationMilliseconds", () => {
  it("converts days, weeks and fractions", () => {
    expect(durationMilliseconds("P2D")).toBe(2 * 24 * 3600_000);
    expect(durationMilliseconds("P1W")).toBe(7 * 24 * 3600_000);
    expect(durationMilliseconds("PT1.5H")).toBe(90 * 60_000);
  });

  it("throws on text that is not a duration", () => {
    expect(() => durationMilliseconds("two days")).toThrow(/not an ISO 8601 duration/);
  });
});

describe("isContinuous", () => {
  it.each(["* * * * *", "*/1 * * * *", "0-59 0-23 1-31 1-12 0-6", "* * * jan-dec sun-sat"])("is true for %s", (schedule) => {
    expect(isContinuous(schedule)).toBe(true);
  });

  it.each(["0 * * * *", "* 0-22 * * *", "* * 1-30 * *", "* * * 1-11 *", "* * * * 1-5", "*/2 * * * *"])("is false for %s", (schedule) => {
    expect(isContinuous(schedule)).toBe(false);
  });
});

describe("isInsideWindow (UTC)", () => {
  const nightly = "0 2 * * *";

  it("is inside from the scheduled start itself", () => {
    expect(isInsideWindow(nightly, "PT4H", utc("2024-05-01T02:00:00"))).toBe(true);
  });

  it("is inside until the last millisecond of the window", () => {
    expect(isInsideWindow(nightly, "PT4H", utc("2024-05-01T05:59:59.999"))).toBe(true);
  });

  it("is outside at the end of the window, which is exclusive", () => {
    expect(isInsideWindow(nightly, "PT4H", utc("2024-05-01T06:00:00"))).toBe(false);
  });

  it("is outside just before the start", () => {
    expect(isInsideWindow(nightly, "PT4H", utc("2024-05-01T01:59:59.999"))).toBe(false);
  });

  it("follows a window across midnight and into a new month", () => {
    expect(isInsideWindow("0 22 * * *", "PT4H", utc("2024-06-01T01:30:00"))).toBe(true);
    expect(isInsideWindow("0 22 * * *", "PT4H", utc("2024-06-01T02:00:00"))).toBe(false);
  });

  it("follows a window across a leap day", () => {
    expect(isInsideWindow("0 23 28 2 *", "P2D", utc("2024-03-01T22:59:00"))).toBe(true);
    expect(isInsideWindow("0 23 28 2 *", "P2D", utc("2024-03-01T23:00:00"))).toBe(false);
  });

  it("is inside when windows overlap because they are longer than the schedule's interval", () => {
    expect(isInsideWindow("0 * * * *", "PT2H", utc("2024-05-01T10:59:00"))).toBe(true);
  });

  it("uses days of the week in UTC", () => {
    // 2024-05-04 is a Saturday; the Friday window has closed, the Monday one has not opened.
    expect(isInsideWindow("0 8 * * 1-5", "PT10H", utc("2024-05-03T17:59:00"))).toBe(true);
    expect(isInsideWindow("0 8 * * 1-5", "PT10H", utc("2024-05-04T09:00:00"))).toBe(false);
  });

  it("reads the schedule in UTC whatever the machine's time zone", () => {
    const zone = process.env.TZ;
    process.env.TZ = "Pacific/Auckland";
    try {
      expect(new Date(Date.UTC(2024, 4, 1)).getHours()).not.toBe(0);
      expect(isInsideWindow(nightly, "PT1H", utc("2024-05-01T02:30:00"))).toBe(true);
      expect(nextSyncStart(nightly, utc("2024-05-01T03:00:00"))).toEqual(utc("2024-05-02T02:00:00"));
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it("is always inside for a continuous schedule", () => {
    expect(isInsideWindow("* * * * *", undefined, utc("2024-05-01T13:37:42.123"))).toBe(true);
  });

  it("throws for a scheduled sync without a window, which validation never lets through", () => {
    expect(() => isInsideWindow(nightly, undefined, utc("2024-05-01T02:00:00"))).toThrow(/needs a sync window/);
  });
});

describe("nextSyncStart (UTC)", () => {
  it("is the next scheduled start later the same day", () => {
    expect(nextSyncStart("0 2,14 * * *", utc("2024-05-01T03:00:00"))).toEqual(utc("2024-05-01T14:00:00"));
  });

  it("is strictly after now, even when now is a start", () => {
    expect(nextSyncStart("0 2 * * *", utc("2024-05-01T02:00:00"))).toEqual(utc("2024-05-02T02:00:00"));
  });

  it("rolls over the end of the year", () => {
    expect(nextSyncStart("30 1 1 1 *", utc("2024-12-31T23:59:00"))).toEqual(utc("2025-01-01T01:30:00"));
  });

  it("is the next minute for a continuous schedule", () => {
    expect(nextSyncStart("* * * * *", utc("2024-05-01T10:15:30"))).toEqual(utc("2024-05-01T10:16:00"));
  });
});
