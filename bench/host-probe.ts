/**
 * Two costs of this machine that the edge agent pays far more often than its Go peers, read
 * at the start and the end of bench:edge and bench/edge-first-sync.ts so that their figures can
 * be compared with those of other runs: the first touch of a fresh 4 KiB page (a page fault)
 * and a round trip through libuv's thread pool (fs.stat, as every file operation of the agent).
 * A first sync costs the agent ~25,000 page faults and ~2,000 pool round trips. On the shared
 * 2-core VM these benchmarks run on, a page fault read 11-15 µs all through 2026-12-02 (bare
 * metal takes well under 1 µs; here the hypervisor handles them), a round trip 28-78 µs;
 * earlier CPU profiles there saw the pool calls' cost double from one hour to the next.
 */
import { statSync } from "node:fs";
import { stat } from "node:fs/promises";

export interface HostProbe {
  /** Microseconds to first touch a fresh 4 KiB page (the page fault), best of 3 over 64 MiB. */
  pageFirstTouchMicros: number;
  /** Microseconds per stat through libuv's thread pool (what an awaited fs call costs beyond the syscall). */
  poolRoundTripMicros: number;
  /** Microseconds per stat done on the calling thread (the syscall alone). */
  syscallMicros: number;
}

const PROBE_BYTES = 64 * 1024 * 1024;

export async function probeHost(): Promise<HostProbe> {
  let firstFill = Number.POSITIVE_INFINITY;
  let secondFill = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    // Outside V8's heap and above malloc's mmap threshold: fresh pages from the kernel each round.
    const buffer = Buffer.allocUnsafeSlow(PROBE_BYTES);
    let t0 = performance.now();
    buffer.fill(1);
    firstFill = Math.min(firstFill, performance.now() - t0);
    t0 = performance.now();
    buffer.fill(2);
    secondFill = Math.min(secondFill, performance.now() - t0);
  }
  const syscalls = 5_000;
  let t0 = performance.now();
  for (let i = 0; i < syscalls; i++) statSync("/");
  const syscallMicros = ((performance.now() - t0) * 1000) / syscalls;
  const roundTrips = 2_000;
  t0 = performance.now();
  for (let i = 0; i < roundTrips; i++) await stat("/");
  const poolRoundTripMicros = ((performance.now() - t0) * 1000) / roundTrips;
  return { pageFirstTouchMicros: ((firstFill - secondFill) * 1000) / (PROBE_BYTES / 4096), poolRoundTripMicros, syscallMicros };
}

function describeProbe(probe: HostProbe): string {
  return `first touch of a fresh 4 KiB page ${probe.pageFirstTouchMicros.toFixed(1)} µs, thread-pool round trip ${probe.poolRoundTripMicros.toFixed(0)} µs, stat syscall ${probe.syscallMicros.toFixed(1)} µs`;
}

/** The two lines a benchmark ends with: the host as it was at its start and at its end. */
export function describeHostPhases(atStart: HostProbe, atEnd: HostProbe): string {
  return `Host at start: ${describeProbe(atStart)}\nHost at end:   ${describeProbe(atEnd)}`;
}
