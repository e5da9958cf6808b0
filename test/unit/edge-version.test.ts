/** `connected-registry --version` and the handshake say the version the package is published as. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AGENT_VERSION } from "../../edge-agent/src/version.js";

describe("the edge agent's version", () => {
  it("is edge-agent/package.json's version (bump both together)", async () => {
    const manifest = JSON.parse(await readFile(join(import.meta.dirname, "../../edge-agent/package.json"), "utf8")) as { version: string };
    expect(AGENT_VERSION).toBe(manifest.version);
  });
});
