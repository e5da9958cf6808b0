/** The agent's disk-limit flags: sizes as operators write them, and a clear error naming the flag. */
import { describe, expect, it } from "vitest";
import { OptionsError, parseStartOptions } from "../../edge-agent/src/options.js";

const CONNECTION = "ConnectedRegistryName=factory1;SyncTokenName=factory1-sync-token;SyncTokenPassword=s3cret+pass=;ParentGatewayEndpoint=registry.example.com;ParentEndpointProtocol=https";
const base = ["--connection-string", CONNECTION, "--http"];

async function problems(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    await parseStartOptions(args, env);
  } catch (error) {
    if (error instanceof OptionsError) return error.message;
    throw error;
  }
  throw new Error("the options were accepted");
}

describe("edge agent disk-limit options", () => {
  it("has no budget and the default floor unless told", async () => {
    const options = await parseStartOptions(base, {});
    expect(options.maxStorageBytes).toBeUndefined();
    expect(options.minFreeBytes).toBeUndefined();
  });

  it("reads --max-storage and --min-free-space, or their environment variables, in bytes", async () => {
    expect(await parseStartOptions([...base, "--max-storage", "50GiB", "--min-free-space", "500MB"], {})).toMatchObject({ maxStorageBytes: 50 * 1024 ** 3, minFreeBytes: 500e6 });
    expect(await parseStartOptions(base, { CONNECTED_REGISTRY_MAX_STORAGE: "2.5MiB", CONNECTED_REGISTRY_MIN_FREE_SPACE: "0" })).toMatchObject({ maxStorageBytes: Math.floor(2.5 * 1024 ** 2), minFreeBytes: 0 });
    // The flag wins over the variable.
    expect(await parseStartOptions([...base, "--max-storage", "1GB"], { CONNECTED_REGISTRY_MAX_STORAGE: "2GB" })).toMatchObject({ maxStorageBytes: 1e9 });
    expect(await parseStartOptions([...base, "--min-free-space", "0GiB"], {})).toMatchObject({ minFreeBytes: 0 });
  });

  it("refuses sizes it cannot read, naming the flag, and a zero budget", async () => {
    const text = await problems([...base, "--max-storage", "lots", "--min-free-space=-1GB"]);
    expect(text).toContain('--max-storage: "lots" is not a size');
    expect(text).toContain('--min-free-space: "-1GB" is not a size');
    expect(await problems([...base, "--max-storage", "0"])).toContain('--max-storage: "0" must be more than 0 bytes');
    expect(await problems(base, { CONNECTED_REGISTRY_MAX_STORAGE: "5 parsecs" })).toContain('--max-storage: "5 parsecs" is not a size');
  });
});
