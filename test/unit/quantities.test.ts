import { describe, expect, it } from "vitest";
import { formatBytes, parseBandwidth, parseSize } from "../../shared/domain/quantities.js";

describe("sizes and rates as operators write them", () => {
  it("reads sizes in decimal and binary units", () => {
    expect(parseSize("50GiB")).toEqual({ ok: true, value: 50 * 1024 ** 3 });
    expect(parseSize("500MB")).toEqual({ ok: true, value: 500e6 });
    expect(parseSize("1048576")).toEqual({ ok: true, value: 1048576 });
    expect(parseSize("1.5 kib")).toEqual({ ok: true, value: 1536 });
  });

  it("names the problem in a size it cannot read", () => {
    const result = parseSize("50 gigs");
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problem).toMatch(/"50 gigs" is not a size/);
    expect(parseSize("0GB").ok).toBe(false);
  });

  it("reads bit rates and byte rates as bytes per second", () => {
    expect(parseBandwidth("20Mbps")).toEqual({ ok: true, value: 2_500_000 });
    expect(parseBandwidth("512Kbps")).toEqual({ ok: true, value: 64_000 });
    expect(parseBandwidth("5MB/s")).toEqual({ ok: true, value: 5e6 });
    expect(parseBandwidth("10MiB/s")).toEqual({ ok: true, value: 10 * 1024 ** 2 });
  });

  it("refuses a rate without a unit, a size without /s, and a rate too slow to sync", () => {
    expect(parseBandwidth("100").ok).toBe(false);
    expect(parseBandwidth("5MB").ok).toBe(false);
    const slow = parseBandwidth("8bps");
    expect(!slow.ok && slow.problem).toMatch(/below 1 KiB\/s/);
  });

  it("formats bytes for people", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
  });
});
