/** The agent's V8 heap growing factor (edge-agent/src/heap-growth.ts), and the operator's own kept. */
import { describe, expect, it } from "vitest";
import { HEAP_GROWING_PERCENT, heapGrowingFlag } from "../../edge-agent/src/heap-growth.js";

describe("the agent's heap growing factor", () => {
  it("is set to a factor of 4 when Node's command line has none", () => {
    expect(HEAP_GROWING_PERCENT).toBe(300);
    expect(heapGrowingFlag([])).toBe("--heap-growing-percent=300");
    expect(heapGrowingFlag(["--enable-source-maps", "--max-old-space-size=256"])).toBe("--heap-growing-percent=300");
  });

  it("is left to the operator who gave Node one, in either spelling, 0 (V8's own heuristics) included", () => {
    expect(heapGrowingFlag(["--heap-growing-percent=50"])).toBeUndefined();
    expect(heapGrowingFlag(["--heap_growing_percent=50"])).toBeUndefined();
    expect(heapGrowingFlag(["--heap-growing-percent=0"])).toBeUndefined();
    expect(heapGrowingFlag(["--heap-growing-percent", "50"])).toBeUndefined();
  });

  it("is not confused with another flag that starts alike", () => {
    expect(heapGrowingFlag(["--heap-growing-percentage=50"])).toBe("--heap-growing-percent=300");
  });
});
