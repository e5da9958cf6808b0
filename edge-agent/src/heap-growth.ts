/**
 * How far V8 lets the agent's heap grow between full garbage collections.
 *
 * An agent idles between syncs, and V8's memory reducer uses the idle time to collect and
 * shrink the old generation's limit to near the live heap (~14 MiB live, limit ~23 MiB).
 * The next sync streams blobs through that heap, and V8 then starts a new full marking as
 * soon as the last one ends: on an agent that had idled 25 s before 200 MiB of new images,
 * 13-18 mark-compacts in the ~1.5 s of the sync (one every ~60 ms; --trace-gc), against 1 in
 * a first sync from a fresh process. A fixed growing factor of 4 (V8's own upper bound on
 * machines with memory to spare) keeps the limit at 4x the live heap: 2 mark-compacts then,
 * both the idle ones, and the sync takes 13% less CPU (bench/edge-after-idle.ts: 0.90 against
 * 1.04 CPU-s, median of 6, every run lower).
 * V8 still caps the limit at half-way to the heap's maximum, so a small machine is not
 * asked for more than it has.
 *
 * The flag is read at every collection, so setting it after start-up takes effect at the
 * next one. An operator who gave Node their own --heap-growing-percent keeps it.
 */
import { setFlagsFromString } from "node:v8";

/** 300: the factor is 1 + 300/100 = 4. */
export const HEAP_GROWING_PERCENT = 300;

/** The V8 flag to set, or undefined when Node's own command line already has one. */
export function heapGrowingFlag(execArgv: readonly string[]): string | undefined {
  const given = execArgv.some((argument) => /^--heap[-_]growing[-_]percent(=|$)/.test(argument));
  return given ? undefined : `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

export function setHeapGrowth(execArgv: readonly string[] = process.execArgv): void {
  const flag = heapGrowingFlag(execArgv);
  if (flag) setFlagsFromString(flag);
}
