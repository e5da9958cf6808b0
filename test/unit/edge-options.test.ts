/** The edge agent's start-up options: every problem named at once, and no password in any message. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OptionsError, parseStartOptions } from "../../edge-agent/src/options.js";

const CONNECTION = "ConnectedRegistryName=factory1;SyncTokenName=factory1-sync-token;SyncTokenPassword=s3cret+pass=;ParentGatewayEndpoint=registry.example.com;ParentEndpointProtocol=https";

async function problems(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    await parseStartOptions(args, env);
  } catch (error) {
    if (error instanceof OptionsError) return error.message;
    throw error;
  }
  throw new Error("the options were accepted");
}

describe("edge agent options", () => {
  it("reads the connection string from the flag or the environment, with defaults for the rest", async () => {
    const fromFlag = await parseStartOptions(["--connection-string", CONNECTION, "--http"], {});
    expect(fromFlag).toMatchObject({ port: 8080, host: "0.0.0.0", syncIntervalSeconds: 2, concurrency: 6 });
    expect(fromFlag.connection).toMatchObject({ connectedRegistryName: "factory1", syncTokenPassword: "s3cret+pass=", parentEndpointProtocol: "https" });
    const fromEnv = await parseStartOptions(["--http", "--port", "5001", "--login-server", "edge.example:5001"], { CONNECTED_REGISTRY_CONNECTION_STRING: CONNECTION });
    expect(fromEnv).toMatchObject({ port: 5001, loginServer: "edge.example:5001" });
  });

  it("reads the connection string from a file (flag or variable), trimmed, so the password stays out of ps output", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edge-options-"));
    try {
      const file = join(dir, "connection-string");
      await writeFile(file, `${CONNECTION}\n`, { mode: 0o600 });
      const fromFlag = await parseStartOptions(["--connection-string-file", file, "--http"], {});
      expect(fromFlag.connection).toMatchObject({ connectedRegistryName: "factory1", syncTokenPassword: "s3cret+pass=" });
      const fromEnv = await parseStartOptions(["--http"], { CONNECTED_REGISTRY_CONNECTION_STRING_FILE: file });
      expect(fromEnv.connection.syncTokenPassword).toBe("s3cret+pass=");

      expect(await problems(["--connection-string-file", join(dir, "missing"), "--http"])).toContain(`--connection-string-file: cannot read ${join(dir, "missing")} (ENOENT)`);
      await writeFile(join(dir, "empty"), "\n");
      expect(await problems(["--connection-string-file", join(dir, "empty"), "--http"])).toContain("is empty");
      expect(await problems(["--connection-string-file", file, "--connection-string", CONNECTION, "--http"])).toContain("--connection-string and --connection-string-file exclude each other");
      // A bad string says where it came from, never its password.
      await writeFile(join(dir, "bad"), CONNECTION.replace("ParentEndpointProtocol=https", "ParentEndpointProtocol=ftp"));
      const bad = await problems(["--connection-string-file", join(dir, "bad"), "--http"]);
      expect(bad).toContain(`the connection string from --connection-string-file (${join(dir, "bad")})`);
      expect(bad).not.toContain("s3cret");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reads ACR's variables after its own, so deployment scripts written for ACR carry over", async () => {
    const acrOnly = await parseStartOptions(["--http"], { ACR_REGISTRY_CONNECTION_STRING: CONNECTION, ACR_REGISTRY_LOGIN_SERVER: "edge.factory:8080" });
    expect(acrOnly.connection.connectedRegistryName).toBe("factory1");
    expect(acrOnly.loginServer).toBe("edge.factory:8080");
    const other = CONNECTION.replace("factory1;", "factory2;");
    const both = await parseStartOptions(["--http"], { CONNECTED_REGISTRY_CONNECTION_STRING: other, ACR_REGISTRY_CONNECTION_STRING: CONNECTION, CONNECTED_REGISTRY_LOGIN_SERVER: "own:1", ACR_REGISTRY_LOGIN_SERVER: "acr:2" });
    expect(both.connection.connectedRegistryName).toBe("factory2");
    expect(both.loginServer).toBe("own:1");
    // A variable defined but blank counts as unset.
    const blank = await parseStartOptions(["--http"], { CONNECTED_REGISTRY_CONNECTION_STRING: "", ACR_REGISTRY_CONNECTION_STRING: CONNECTION });
    expect(blank.connection.connectedRegistryName).toBe("factory1");
    expect(await problems(["--http"], { ACR_REGISTRY_CONNECTION_STRING: "" })).toContain("ACR_REGISTRY_CONNECTION_STRING) is required");
  });

  it("takes --log-level none (nothing is logged)", async () => {
    expect((await parseStartOptions(["--connection-string", CONNECTION, "--http", "--log-level", "none"], {})).logLevel).toBe("none");
  });

  it("takes failed-login limits from flags, with the cloud's defaults, and names a bad one by its flag", async () => {
    const defaults = await parseStartOptions(["--connection-string", CONNECTION, "--http"], {});
    expect(defaults.logins).toEqual({ failureWindowSeconds: 60, failuresPerAddress: 10, failuresPerToken: 30, refusalDelayMs: 1000, passwordCheckWorkers: 1 });
    const set = await parseStartOptions(
      ["--connection-string", CONNECTION, "--http", "--login-failure-window", "5", "--login-failures-per-address", "3", "--login-failures-per-token", "7", "--login-refusal-delay-ms", "0", "--password-check-workers", "2"],
      {},
    );
    expect(set.logins).toEqual({ failureWindowSeconds: 5, failuresPerAddress: 3, failuresPerToken: 7, refusalDelayMs: 0, passwordCheckWorkers: 2 });
    const message = await problems(["--connection-string", CONNECTION, "--http", "--login-failures-per-address", "0", "--password-check-workers", "many"]);
    expect(message).toContain("--login-failures-per-address");
    expect(message).toContain("--password-check-workers");
  });

  it("refuses to serve plain HTTP unless asked, and names every problem in one message", async () => {
    const message = await problems(["--port", "70000", "--log-level", "loud", "--tls-cert", "/nonexistent/cert.pem"], {});
    expect(message).toContain("--connection-string (or CONNECTED_REGISTRY_CONNECTION_STRING, --connection-string-file, CONNECTED_REGISTRY_CONNECTION_STRING_FILE or ACR_REGISTRY_CONNECTION_STRING) is required");
    expect(message).toContain("--port");
    expect(message).toContain('--log-level must be one of debug, info, warn, error, none, not "loud"');
    expect(message).toContain("--tls-cert and --tls-key go together");
    expect(await problems(["--connection-string", CONNECTION], {})).toContain("or --http to serve plain HTTP");
  });

  it("takes the server's limits as flags, with defaults, and refuses ones Node would not", async () => {
    const defaults = await parseStartOptions(["--connection-string", CONNECTION, "--http"], {});
    expect(defaults.httpLimits).toEqual({ headersTimeoutMs: 30_000, requestTimeoutMs: 3_600_000, bodyIdleTimeoutMs: 60_000, maxUploadsPerClient: 32, retryAfterSeconds: 5 });
    const given = await parseStartOptions(["--connection-string", CONNECTION, "--http", "--headers-timeout", "2", "--request-timeout", "0", "--body-idle-timeout", "3", "--max-uploads-per-client", "4"], {});
    expect(given.httpLimits).toMatchObject({ headersTimeoutMs: 2000, requestTimeoutMs: 0, bodyIdleTimeoutMs: 3000, maxUploadsPerClient: 4 });
    const message = await problems(["--connection-string", CONNECTION, "--http", "--body-idle-timeout", "0", "--max-uploads-per-client", "lots"]);
    expect(message).toContain("--body-idle-timeout:");
    expect(message).toContain("--max-uploads-per-client:");
    expect(await problems(["--connection-string", CONNECTION, "--http", "--headers-timeout", "60", "--request-timeout", "30"])).toContain("--headers-timeout must not exceed --request-timeout");
  });

  it("explains a bad connection string without repeating its password", async () => {
    const message = await problems(["--connection-string", CONNECTION.replace("ParentEndpointProtocol=https", "ParentEndpointProtocol=ftp"), "--http"]);
    expect(message).toContain("ParentEndpointProtocol");
    expect(message).not.toContain("s3cret");
    expect(await problems(["--connection-string", CONNECTION, "--http", "--login-server", "https://edge/"])).toContain("--login-server must be host or host:port");
  });

  it("takes the outbound proxy from the environment, and refuses an unusable one without repeating it", async () => {
    expect((await parseStartOptions(["--connection-string", CONNECTION, "--http"], {})).proxy).toBeUndefined();
    const proxied = await parseStartOptions(["--connection-string", CONNECTION, "--http"], { https_proxy: "http://u:p@proxy:3128", NO_PROXY: "localhost" });
    expect(proxied.proxy).toEqual({ httpsProxy: "http://u:p@proxy:3128", noProxy: "localhost" });
    const message = await problems(["--connection-string", CONNECTION, "--http"], { HTTPS_PROXY: "socks5://u:pr0xy-secret@proxy:1080" });
    expect(message).toContain("HTTPS_PROXY");
    expect(message).not.toContain("pr0xy-secret");
  });

  it("takes the TLS files' paths and the renewal check interval", async () => {
    const message = await problems(["--connection-string", CONNECTION, "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem", "--tls-check-interval", "0"]);
    expect(message).toContain("--tls-check-interval");
    expect(message).toContain("--tls-cert: cannot read /nonexistent/c.pem");
  });

  it("reads --max-bandwidth (or its variable) as bytes per second, and refuses a rate it cannot read", async () => {
    expect((await parseStartOptions(["--connection-string", CONNECTION, "--http", "--max-bandwidth", "20Mbps"], {})).maxBandwidth).toBe(2_500_000);
    expect((await parseStartOptions(["--connection-string", CONNECTION, "--http"], { CONNECTED_REGISTRY_MAX_BANDWIDTH: "4MiB/s" })).maxBandwidth).toBe(4 * 1024 * 1024);
    expect((await parseStartOptions(["--connection-string", CONNECTION, "--http"], {})).maxBandwidth).toBeUndefined();
    expect(await problems(["--connection-string", CONNECTION, "--http", "--max-bandwidth", "fast"])).toContain('--max-bandwidth: "fast" is not a bandwidth');
    expect(await problems(["--connection-string", CONNECTION, "--http"], { CONNECTED_REGISTRY_MAX_BANDWIDTH: "100bps" })).toContain("--max-bandwidth: \"100bps\" is below 1 KiB/s");
  });
});

const base = ["--connection-string", CONNECTION, "--http"];

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

describe("edge agent --upstream-chunk-size", () => {
  it("is unset (the pusher's 8 MiB) unless told; reads the flag, or its environment variable, in bytes", async () => {
    expect((await parseStartOptions(base, {})).upstreamChunkBytes).toBeUndefined();
    expect(await parseStartOptions([...base, "--upstream-chunk-size", "4MiB"], {})).toMatchObject({ upstreamChunkBytes: 4 * 1024 ** 2 });
    expect(await parseStartOptions(base, { CONNECTED_REGISTRY_UPSTREAM_CHUNK_SIZE: "16MB" })).toMatchObject({ upstreamChunkBytes: 16e6 });
  });

  it("refuses a size it cannot read, naming the flag", async () => {
    expect(await problems([...base, "--upstream-chunk-size", "big"])).toContain('--upstream-chunk-size: "big" is not a size');
  });
});
