import { describe, expect, it } from "vitest";
import { parseRange } from "../../shared/registry/blobs.js";

describe("Range header parsing", () => {
  it("serves the whole blob when there is no Range header", () => {
    expect(parseRange(null, 100)).toBeUndefined();
    expect(parseRange("", 100)).toBeUndefined();
  });

  it("reads bytes=a-b as an inclusive range", () => {
    expect(parseRange("bytes=0-9", 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange("bytes=10-10", 100)).toEqual({ start: 10, end: 10 });
  });

  it("reads bytes=a- as running to the last byte", () => {
    expect(parseRange("bytes=40-", 100)).toEqual({ start: 40, end: 99 });
  });

  it("reads bytes=-n as the last n bytes", () => {
    expect(parseRange("bytes=-10", 100)).toEqual({ start: 90, end: 99 });
  });

  it("serves the whole blob for a suffix longer than the blob", () => {
    expect(parseRange("bytes=-500", 100)).toEqual({ start: 0, end: 99 });
  });

  it("clips an end beyond the blob to its last byte", () => {
    expect(parseRange("bytes=50-1000", 100)).toEqual({ start: 50, end: 99 });
  });

  it("refuses a start at or beyond the end of the blob", () => {
    expect(parseRange("bytes=100-", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=100-200", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=0-", 0)).toBe("unsatisfiable");
  });

  it("refuses a zero-length suffix", () => {
    expect(parseRange("bytes=-0", 100)).toBe("unsatisfiable");
  });

  it("refuses a range whose end precedes its start", () => {
    expect(parseRange("bytes=20-10", 100)).toBe("unsatisfiable");
  });

  it("ignores several ranges and serves the whole blob", () => {
    expect(parseRange("bytes=0-1,5-6", 100)).toBeUndefined();
    expect(parseRange("bytes=0-1, 5-6", 100)).toBeUndefined();
  });

  it.each(["bytes=-", "items=0-1", "bytes=a-b", "bytes 0-1", "0-1", "bytes=1.5-2"])("ignores the malformed header %j", (header) => {
    expect(parseRange(header, 100)).toBeUndefined();
  });

  it("tolerates surrounding whitespace", () => {
    expect(parseRange("  bytes=1-2 ", 100)).toEqual({ start: 1, end: 2 });
  });

  // RFC 9110 15.5.17: no byte of a zero-length representation can be addressed.
  it("finds every range of an empty blob unsatisfiable", () => {
    expect(parseRange("bytes=-5", 0)).toBe("unsatisfiable");
    expect(parseRange("bytes=0-", 0)).toBe("unsatisfiable");
    expect(parseRange(null, 0)).toBeUndefined();
  });
});
