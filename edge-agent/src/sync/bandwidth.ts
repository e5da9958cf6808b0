/**
 * The sync's bandwidth cap (docs/edge-agent.md, "Sync windows and bandwidth"): one budget
 * shared by every download from the parent and every upstream push body, so N parallel
 * transfers share the cap instead of getting one each.
 *
 * A token bucket in its virtual-time form (GCRA): each chunk reserves its slot after the
 * previous reservation, at `bytes / rate` seconds each, and waits until that slot is at most
 * BURST_SECONDS ahead. Reservations are absolute, so a timer that fires late does not slow
 * the long-run rate, and waiting before the next read leaves the bytes in the socket (TCP
 * backpressure): nothing is buffered beyond the chunk in hand.
 */

import { formatBytes, parseBandwidth } from "../../../shared/domain/quantities.js";
import type { Logger } from "../log.js";

/** How far ahead of the rate a transfer may run after an idle spell: a short burst, not seconds of it. */
export const BURST_SECONDS = 0.1;

export interface BandwidthClock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: BandwidthClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class BandwidthLimit {
  private bytesPerSecond: number | undefined;
  /** When the last reservation ends (the bucket's theoretical arrival time), in clock ms. */
  private reservedUntil = 0;

  constructor(private readonly clock: BandwidthClock = realClock) {}

  /** Bytes per second now in force; undefined when there is no cap. */
  get rate(): number | undefined {
    return this.bytesPerSecond;
  }

  /** Applies at once, to transfers under way too; undefined lifts the cap. */
  setRate(bytesPerSecond: number | undefined): void {
    if (bytesPerSecond !== undefined && !(bytesPerSecond > 0)) throw new Error(`a bandwidth cap must be more than 0 bytes/s, got ${bytesPerSecond}`);
    if (bytesPerSecond === this.bytesPerSecond) return;
    this.bytesPerSecond = bytesPerSecond;
    // Reservations made at the old rate do not hold the new one back.
    this.reservedUntil = this.clock.now();
  }

  /** Resolves when `bytes` may go: at once without a cap or within the burst. */
  async take(bytes: number): Promise<void> {
    const rate = this.bytesPerSecond;
    if (rate === undefined || bytes <= 0) return;
    const now = this.clock.now();
    this.reservedUntil = Math.max(this.reservedUntil, now) + (bytes / rate) * 1000;
    const wait = this.reservedUntil - now - BURST_SECONDS * 1000;
    if (wait > 0) await this.clock.sleep(wait);
  }

  /** The body's chunks, each let through only when the cap allows (pulling the next one waits too). */
  async *throttle(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      await this.take(chunk.byteLength);
      yield chunk;
    }
  }
}

/**
 * The cap in force: the smaller of the agent's --max-bandwidth and the resource's
 * syncBandwidth (either may be absent). A syncBandwidth the agent cannot read (a parent
 * newer than this agent's parser) is named in `problem` and ignored, so it never stops syncing.
 */
export function effectiveCap(flagBytesPerSecond: number | undefined, syncBandwidth: string | null | undefined): { cap: number | undefined; problem?: string } {
  const resource = syncBandwidth ? parseBandwidth(syncBandwidth) : undefined;
  const caps = [flagBytesPerSecond, resource?.ok ? resource.value : undefined].filter((cap): cap is number => cap !== undefined);
  return { cap: caps.length > 0 ? Math.min(...caps) : undefined, ...(resource && !resource.ok ? { problem: `syncBandwidth ${resource.problem}` } : {}) };
}

/** Sets the cap the flag and the configuration give, logging when it changes (at start, and when the parent's setting does). */
export function followCap(limit: BandwidthLimit, flagBytesPerSecond: number | undefined, syncBandwidth: string | null | undefined, log: Logger): void {
  const { cap, problem } = effectiveCap(flagBytesPerSecond, syncBandwidth);
  if (problem) log.warn("ignoring the resource's sync bandwidth setting", { problem });
  if (cap === limit.rate) return;
  limit.setRate(cap);
  log.info(cap === undefined ? "sync bandwidth: no cap" : "sync bandwidth capped", {
    ...(cap !== undefined ? { cap: `${formatBytes(cap)}/s` } : {}),
    ...(flagBytesPerSecond !== undefined ? { maxBandwidth: `${formatBytes(flagBytesPerSecond)}/s` } : {}),
    ...(syncBandwidth ? { syncBandwidth } : {}),
  });
}
