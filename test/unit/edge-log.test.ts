/** The agent's log thresholds, and the parent's `logging` values (ACR's names) mapped onto them. */
import { describe, expect, it } from "vitest";
import { createLogger, levelFromParent } from "../../edge-agent/src/log.js";

describe("edge agent log", () => {
  it("writes nothing at all when the parent's logging is None, errors included", () => {
    const lines: string[] = [];
    const log = createLogger("info", (line) => lines.push(line));
    log.info("before");
    log.setLevel(levelFromParent("None"));
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(lines.map((line) => JSON.parse(line).message)).toEqual(["before"]);
  });

  it("maps ACR's logging values to thresholds", () => {
    expect(["Debug", "Information", "Warning", "Error", "None"].map(levelFromParent)).toEqual(["debug", "info", "warn", "error", "none"]);
    const lines: string[] = [];
    const log = createLogger(levelFromParent("Warning"), (line) => lines.push(line));
    log.info("quiet");
    log.warn("heard");
    expect(lines.map((line) => JSON.parse(line).message)).toEqual(["heard"]);
  });
});
