/** The edge agent's pull-through flags (pull-through/): on by default, off with --no-pull-through, a bounded concurrency. */
import { describe, expect, it } from "vitest";
import { OptionsError, parseStartOptions } from "../../edge-agent/src/options.js";

const CONNECTION = "ConnectedRegistryName=factory1;SyncTokenName=factory1-sync-token;SyncTokenPassword=s3cret+pass=;ParentGatewayEndpoint=registry.example.com;ParentEndpointProtocol=https";
const base = ["--connection-string", CONNECTION, "--http"];

describe("edge agent pull-through flags", () => {
  it("is on with 4 parallel downloads unless told otherwise", async () => {
    expect((await parseStartOptions(base, {})).pullThrough).toEqual({ concurrency: 4 });
    expect((await parseStartOptions([...base, "--pull-through-concurrency", "2"], {})).pullThrough).toEqual({ concurrency: 2 });
    expect((await parseStartOptions([...base, "--no-pull-through"], {})).pullThrough).toBe(false);
  });

  it("refuses a concurrency that is not a whole number from 1 to 64, naming the flag", async () => {
    for (const value of ["0", "65", "two", "1.5"]) {
      const refused = await parseStartOptions([...base, "--pull-through-concurrency", value], {}).then(
        () => "",
        (error: unknown) => (error instanceof OptionsError ? error.message : String(error)),
      );
      expect(refused, value).toMatch(/^--pull-through-concurrency: /m);
    }
  });
});
