/**
 * The edge's use tracking (edge-agent/src/gc/use-tracker.ts) on a clock the test moves: what a
 * sweep spares and when a write that holds digests may go on. The collection around it is in
 * test/integration/edge-gc-interleavings.test.ts.
 */
import { describe, expect, it } from "vitest";
import { UseTracker } from "../../edge-agent/src/gc/use-tracker.js";

const X = "sha256:" + "a".repeat(64);
const Y = "sha256:" + "b".repeat(64);

function clockAt(start: number): { now: () => number; set: (t: number) => void } {
  let t = start;
  return { now: () => t, set: (value) => (t = value) };
}

describe("the use tracker", () => {
  it("sweeps a digest last used before the collection started, and spares one used since", async () => {
    const clock = clockAt(100);
    const tracker = new UseTracker(clock.now);
    tracker.use(X);
    clock.set(200);
    tracker.use(Y);
    expect(await tracker.sweep(X, 150, async () => undefined)).toBe(true);
    expect(await tracker.sweep(Y, 150, async () => undefined)).toBe(false);
  });

  it("never sweeps a digest a write holds, however old its last use, and counts it used when released", async () => {
    const clock = clockAt(100);
    const tracker = new UseTracker(clock.now);
    let release!: () => void;
    const writing = tracker.hold([X, X], () => new Promise<void>((resolve) => (release = resolve)));
    clock.set(200);
    let removed = false;
    expect(await tracker.sweep(X, 150, async () => void (removed = true))).toBe(false);
    clock.set(300);
    release();
    await writing;
    expect(removed).toBe(false);
    // Released at 300: a collection that started before then may have missed the write, and spares it.
    expect(tracker.lastUsed(X)).toBe(300);
    expect(await tracker.sweep(X, 250, async () => undefined)).toBe(false);
    expect(await tracker.sweep(X, 301, async () => undefined)).toBe(true);
  });

  it("keeps a digest held until the last of two writes holding it is done", async () => {
    const tracker = new UseTracker(() => 0);
    let releaseFirst!: () => void;
    const first = tracker.hold([X], () => new Promise<void>((resolve) => (releaseFirst = resolve)));
    const second = tracker.hold([X], async () => undefined);
    await second;
    expect(await tracker.sweep(X, 1, async () => undefined)).toBe(false);
    releaseFirst();
    await first;
    expect(await tracker.sweep(X, 1, async () => undefined)).toBe(true);
  });

  it("lets a write that starts during a deletion go on only once the deletion is done", async () => {
    const tracker = new UseTracker(() => 0);
    let finishDeletion!: () => void;
    const deleting = tracker.sweep(X, 1, () => new Promise<void>((resolve) => (finishDeletion = resolve)));
    const order: string[] = [];
    const writing = tracker.hold([X], async () => void order.push("write checks"));
    await new Promise((resolve) => setTimeout(resolve, 10));
    order.push("deletion done");
    finishDeletion();
    expect(await deleting).toBe(true);
    await writing;
    expect(order).toEqual(["deletion done", "write checks"]);
  });
});
