/**
 * The sync's token bucket (edge-agent/src/sync/bandwidth.ts) on a simulated clock, and the
 * limits over a body read into the caller's buffers (governed-stream.ts's governedReader).
 */
import { describe, expect, it } from "vitest";
import { BURST_SECONDS, BandwidthLimit, effectiveCap, followCap, type BandwidthClock } from "../../edge-agent/src/sync/bandwidth.js";
import { createLogger } from "../../edge-agent/src/log.js";
import { governedReader } from "../../edge-agent/src/sync/governed-stream.js";
import { SyncWindow, WindowClosedError } from "../../edge-agent/src/sync/sync-window.js";

/** A clock that only moves when someone sleeps; sleepers wake in time order. */
function simulatedClock(): BandwidthClock & { time: number } {
  const clock = {
    time: 0,
    now: () => clock.time,
    sleep: async (ms: number) => {
      clock.time += ms;
    },
  };
  return clock;
}

async function* chunks(count: number, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) yield new Uint8Array(size);
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const chunk of body) bytes += chunk.byteLength;
  return bytes;
}

const KIB = 1024;
const MIB = 1024 * 1024;

describe("BandwidthLimit", () => {
  it("lets a stream through at the cap, with no more than a short burst ahead", async () => {
    const clock = simulatedClock();
    const limit = new BandwidthLimit(clock);
    limit.setRate(4 * MIB);
    const bytes = await drain(limit.throttle(chunks(1920, 64 * KIB))); // 120 MiB: 30 s at 4 MiB/s
    expect(bytes).toBe(120 * MIB);
    const expectedMs = 30_000 - BURST_SECONDS * 1000;
    expect(clock.time).toBeGreaterThanOrEqual(expectedMs - 1);
    expect(clock.time).toBeLessThanOrEqual(30_000);
  });

  it("shares one cap between transfers that run at once", async () => {
    const clock = simulatedClock();
    const limit = new BandwidthLimit(clock);
    limit.setRate(1 * MIB);
    // Four transfers of 2 MiB each, interleaved chunk by chunk as concurrent sockets deliver them.
    const streams = Array.from({ length: 4 }, () => limit.throttle(chunks(32, 64 * KIB))[Symbol.asyncIterator]());
    let done = 0;
    while (done < streams.length) {
      done = 0;
      for (const stream of streams) if ((await stream.next()).done) done++;
    }
    // 8 MiB through a 1 MiB/s cap: about 8 s, not the 2 s four separate caps would allow.
    expect(clock.time / 1000).toBeGreaterThan(7.8);
  });

  it("passes everything at once without a cap, and applies a new cap to what follows", async () => {
    const clock = simulatedClock();
    const limit = new BandwidthLimit(clock);
    await drain(limit.throttle(chunks(100, 64 * KIB)));
    expect(clock.time).toBe(0);
    limit.setRate(512 * KIB);
    await drain(limit.throttle(chunks(16, 64 * KIB))); // 1 MiB at 512 KiB/s
    expect(clock.time / 1000).toBeCloseTo(2 - BURST_SECONDS, 1);
    const before = clock.time;
    limit.setRate(2 * MIB);
    await drain(limit.throttle(chunks(32, 64 * KIB))); // 2 MiB at 2 MiB/s
    expect((clock.time - before) / 1000).toBeCloseTo(1 - BURST_SECONDS, 1);
  });

  it("refuses a cap that is not a positive rate", () => {
    expect(() => new BandwidthLimit().setRate(0)).toThrow(/more than 0/);
  });
});

describe("effectiveCap", () => {
  it("takes the smaller of the flag and the resource's setting", () => {
    expect(effectiveCap(10 * MIB, "5MB/s")).toEqual({ cap: 5_000_000 });
    expect(effectiveCap(1 * MIB, "20Mbps")).toEqual({ cap: 1 * MIB });
    expect(effectiveCap(undefined, "8Mbps")).toEqual({ cap: 1_000_000 });
    expect(effectiveCap(2 * MIB, null)).toEqual({ cap: 2 * MIB });
    expect(effectiveCap(undefined, undefined)).toEqual({ cap: undefined });
  });

  it("ignores a setting it cannot read, saying why", () => {
    const result = effectiveCap(2 * MIB, "fast");
    expect(result.cap).toBe(2 * MIB);
    expect(result.problem).toMatch(/"fast" is not a bandwidth/);
  });
});

describe("followCap", () => {
  it("applies the resource's setting as it changes, without a restart, never above the flag", () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger("info", (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const limit = new BandwidthLimit();
    followCap(limit, 4 * MIB, undefined, log);
    expect(limit.rate).toBe(4 * MIB);
    followCap(limit, 4 * MIB, "8Mbps", log); // 1 MB/s: lower than the flag
    expect(limit.rate).toBe(1_000_000);
    followCap(limit, 4 * MIB, "1GiB/s", log); // higher: the flag holds
    expect(limit.rate).toBe(4 * MIB);
    followCap(limit, undefined, null, log);
    expect(limit.rate).toBeUndefined();
    expect(lines.map((line) => line.message)).toEqual(["sync bandwidth capped", "sync bandwidth capped", "sync bandwidth capped", "sync bandwidth: no cap"]);
    followCap(limit, undefined, "lots", log);
    expect(limit.rate).toBeUndefined();
    expect(lines.at(-1)).toMatchObject({ level: "warn", message: "ignoring the resource's sync bandwidth setting" });
  });
});

describe("governedReader", () => {
  /** A body of `total` bytes that records the size of every buffer it was asked to fill. */
  function fakeBody(total: number): { readInto(target: Uint8Array): Promise<number>; asked: number[] } {
    let left = total;
    const asked: number[] = [];
    return {
      asked,
      readInto: (target) => {
        asked.push(target.byteLength);
        const count = Math.min(target.byteLength, left);
        left -= count;
        return Promise.resolve(count);
      },
    };
  }

  async function readAll(reader: { readInto(target: Uint8Array): Promise<number> }, bufferBytes: number): Promise<number> {
    const buffer = new Uint8Array(bufferBytes);
    let bytes = 0;
    for (let count; (count = await reader.readInto(buffer)) > 0; ) bytes += count;
    return bytes;
  }

  it("reads whole buffers without a cap, counting every byte", async () => {
    const body = fakeBody(5 * MIB + 10);
    let counted = 0;
    const window = new SyncWindow(() => new Date(), () => undefined);
    expect(await readAll(governedReader(body, { window, onPiece: (bytes) => (counted += bytes) }), MIB)).toBe(5 * MIB + 10);
    expect(counted).toBe(5 * MIB + 10);
    expect(new Set(body.asked)).toEqual(new Set([MIB]));
  });

  it("under a cap asks for a piece at a time and holds the cap", async () => {
    const clock = simulatedClock();
    const bandwidth = new BandwidthLimit(clock);
    bandwidth.setRate(1 * MIB);
    const body = fakeBody(8 * MIB);
    expect(await readAll(governedReader(body, { bandwidth }), MIB)).toBe(8 * MIB);
    expect(Math.max(...body.asked)).toBe(64 * KIB);
    expect(clock.time / 1000).toBeGreaterThan(8 - BURST_SECONDS - 0.01);
  });

  it("stops at the next read once the window has closed (the agent stopping), reading nothing more", async () => {
    const window = new SyncWindow(() => new Date(), () => undefined);
    const body = fakeBody(4 * MIB);
    const reader = governedReader(body, { window });
    expect(await reader.readInto(new Uint8Array(MIB))).toBe(MIB);
    window.shutDown();
    await expect(reader.readInto(new Uint8Array(MIB))).rejects.toBeInstanceOf(WindowClosedError);
    expect(body.asked).toHaveLength(1);
  });
});
