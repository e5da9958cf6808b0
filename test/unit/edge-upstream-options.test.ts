/** --upstream-chunk-size: a size as operators write it, the 8 MiB default, and a clear error naming the flag. */
import { describe, expect, it } from "vitest";
import { OptionsError, parseStartOptions } from "../../edge-agent/src/options.js";

const CONNECTION = "ConnectedRegistryName=factory1;SyncTokenName=factory1-sync-token;SyncTokenPassword=s3cret+pass=;ParentGatewayEndpoint=registry.example.com;ParentEndpointProtocol=https";
const base = ["--connection-string", CONNECTION, "--http"];

describe("edge agent --upstream-chunk-size", () => {
  it("is unset (the pusher's 8 MiB) unless told; reads the flag, or its environment variable, in bytes", async () => {
    expect((await parseStartOptions(base, {})).upstreamChunkBytes).toBeUndefined();
    expect(await parseStartOptions([...base, "--upstream-chunk-size", "4MiB"], {})).toMatchObject({ upstreamChunkBytes: 4 * 1024 ** 2 });
    expect(await parseStartOptions(base, { CONNECTED_REGISTRY_UPSTREAM_CHUNK_SIZE: "16MB" })).toMatchObject({ upstreamChunkBytes: 16e6 });
  });

  it("refuses a size it cannot read, naming the flag", async () => {
    const refused = await parseStartOptions([...base, "--upstream-chunk-size", "big"], {}).then(
      () => "accepted",
      (error: unknown) => (error instanceof OptionsError ? error.message : String(error)),
    );
    expect(refused).toContain('--upstream-chunk-size: "big" is not a size');
  });
});
