import { describe, expect, it } from "vitest";
import { generateSigningKeyPem } from "../../shared/auth/signing-key.js";
import { ConfigError, httpLimitsOf, loadConfig } from "../../shared/config.js";

const required = {
  COSMOS_ENDPOINT: "https://account.documents.azure.com:443/",
  COSMOS_KEY: "secret-key",
  STORAGE_CONNECTION_STRING: "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=b;EndpointSuffix=core.windows.net",
  TOKEN_SIGNING_KEY: generateSigningKeyPem(),
};

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected loadConfig to throw");
}

describe("loading the configuration", () => {
  it("fills in defaults for every optional setting", () => {
    expect(loadConfig(required)).toEqual({
      ...required,
      COSMOS_DATABASE: "registry",
      BLOB_CONTAINER: "registry",
      STORAGE_CREDENTIAL: "default",
      REGISTRY_BLOB_DELIVERY: "redirect",
      REGISTRY_READ_URL_SECONDS: 600,
      REGISTRY_ALLOW_ANONYMOUS: false,
      REGISTRY_ANONYMOUS_PULL: false,
      REGISTRY_NAME: "registry",
      ACCESS_TOKEN_SECONDS: 300,
      REFRESH_TOKEN_SECONDS: 10800,
      TOKEN_STATE_SECONDS: 30,
      WEBHOOK_RETRY_SECONDS: [1, 10, 60, 300, 900, 3600, 10800],
      WEBHOOK_TIMEOUT_SECONDS: 10,
      CHANGE_FEED_GRACE_SECONDS: 30,
      IMPORT_QUEUE: "imports",
      BLOB_GC_GRACE_SECONDS: 3600,
      HTTP_HEADERS_TIMEOUT_SECONDS: 30,
      HTTP_REQUEST_TIMEOUT_SECONDS: 3600,
      HTTP_BODY_IDLE_TIMEOUT_SECONDS: 60,
      HTTP_MAX_UPLOADS_PER_CLIENT: 32,
      LOGIN_FAILURE_WINDOW_SECONDS: 60,
      LOGIN_FAILURES_PER_ADDRESS: 10,
      LOGIN_FAILURES_PER_TOKEN: 30,
      LOGIN_REFUSAL_DELAY_MS: 1000,
      PASSWORD_CHECK_WORKERS: 2,
      PASSWORD_CHECK_QUEUE: 32,
      REFUSED_PASSWORD_CACHE_SECONDS: 10,
    });
  });

  it("reads the local host's connection limits, refusing a headers timeout longer than the request timeout", () => {
    const config = loadConfig({ ...required, HTTP_HEADERS_TIMEOUT_SECONDS: "5", HTTP_REQUEST_TIMEOUT_SECONDS: "0", HTTP_BODY_IDLE_TIMEOUT_SECONDS: "2", HTTP_MAX_UPLOADS_PER_CLIENT: "3" });
    expect(httpLimitsOf(config)).toEqual({ headersTimeoutMs: 5000, requestTimeoutMs: 0, bodyIdleTimeoutMs: 2000, maxUploadsPerClient: 3, retryAfterSeconds: 5 });
    expect(configError({ ...required, HTTP_HEADERS_TIMEOUT_SECONDS: "60", HTTP_REQUEST_TIMEOUT_SECONDS: "30" }).message).toContain("HTTP_HEADERS_TIMEOUT_SECONDS: must not exceed HTTP_REQUEST_TIMEOUT_SECONDS");
    expect(configError({ ...required, HTTP_BODY_IDLE_TIMEOUT_SECONDS: "0", HTTP_MAX_UPLOADS_PER_CLIENT: "many" }).message).toMatch(/HTTP_BODY_IDLE_TIMEOUT_SECONDS: .*HTTP_MAX_UPLOADS_PER_CLIENT: /);
  });

  it("refuses failed-login limits and password-check threads out of range, naming each", () => {
    const message = configError({ ...required, LOGIN_FAILURES_PER_ADDRESS: "0", PASSWORD_CHECK_WORKERS: "64", LOGIN_FAILURE_WINDOW_SECONDS: "soon" }).message;
    expect(message).toContain("LOGIN_FAILURES_PER_ADDRESS");
    expect(message).toContain("PASSWORD_CHECK_WORKERS");
    expect(message).toContain("LOGIN_FAILURE_WINDOW_SECONDS");
  });

  it("takes endpoints instead of keys, for the managed identity in Azure", () => {
    const { COSMOS_KEY: _key, STORAGE_CONNECTION_STRING: _connection, ...identityBased } = required;
    const config = loadConfig({ ...identityBased, STORAGE_BLOB_ENDPOINT: "https://a.blob.core.windows.net/", STORAGE_QUEUE_ENDPOINT: "https://a.queue.core.windows.net/" });
    expect(config.COSMOS_KEY).toBeUndefined();
    expect(config.STORAGE_BLOB_ENDPOINT).toBe("https://a.blob.core.windows.net/");
    expect(configError({ ...identityBased, STORAGE_BLOB_ENDPOINT: "https://a.blob.core.windows.net/" }).message).toContain(
      "STORAGE_CONNECTION_STRING: is required, or else both STORAGE_BLOB_ENDPOINT and STORAGE_QUEUE_ENDPOINT",
    );
  });

  it("selects the storage credential: default (managed identity) unless emulator is asked for, and refuses anything else", () => {
    const { STORAGE_CONNECTION_STRING: _connection, ...endpointsOnly } = required;
    const endpoints = { ...endpointsOnly, STORAGE_BLOB_ENDPOINT: "https://127.0.0.1:10000/devstoreaccount1/", STORAGE_QUEUE_ENDPOINT: "https://127.0.0.1:10001/devstoreaccount1/" };
    expect(loadConfig(endpoints).STORAGE_CREDENTIAL).toBe("default");
    expect(loadConfig({ ...endpoints, STORAGE_CREDENTIAL: "emulator" }).STORAGE_CREDENTIAL).toBe("emulator");
    expect(configError({ ...endpoints, STORAGE_CREDENTIAL: "key" }).message).toContain("STORAGE_CREDENTIAL: must be default (DefaultAzureCredential) or emulator");
    // A connection string carries a key: with it the emulator credential would never be used.
    expect(configError({ ...required, STORAGE_CREDENTIAL: "emulator" }).message).toContain("STORAGE_CREDENTIAL: emulator signs in with a token");
  });

  it("reads explicit settings, converting numbers and booleans", () => {
    const config = loadConfig({
      ...required,
      COSMOS_DATABASE: "db2",
      BLOB_CONTAINER: "my-blobs-1",
      REGISTRY_BLOB_DELIVERY: "stream",
      REGISTRY_READ_URL_SECONDS: "120",
      REGISTRY_ALLOW_ANONYMOUS: "true",
    });
    expect(config).toMatchObject({
      COSMOS_DATABASE: "db2",
      BLOB_CONTAINER: "my-blobs-1",
      REGISTRY_BLOB_DELIVERY: "stream",
      REGISTRY_READ_URL_SECONDS: 120,
      REGISTRY_ALLOW_ANONYMOUS: true,
    });
  });

  it("reads REGISTRY_ALLOW_ANONYMOUS=false as false", () => {
    expect(loadConfig({ ...required, REGISTRY_ALLOW_ANONYMOUS: "false" }).REGISTRY_ALLOW_ANONYMOUS).toBe(false);
  });

  it("ignores unrelated environment variables", () => {
    const config = loadConfig({ ...required, PATH: "/usr/bin", HOME: "/root", UNSET: undefined });
    expect(config).not.toHaveProperty("PATH");
  });

  it("names every missing required setting in one error", () => {
    const message = configError({}).message;
    expect(message).toMatch(/^invalid configuration: /);
    expect(message).toContain("COSMOS_ENDPOINT: must be the Cosmos DB account URL");
    expect(message).toContain("STORAGE_CONNECTION_STRING: is required, or else both STORAGE_BLOB_ENDPOINT and STORAGE_QUEUE_ENDPOINT");
  });

  it("names EVERY bad setting at once", () => {
    const message = configError({
      COSMOS_ENDPOINT: "not a url",
      COSMOS_KEY: "",
      COSMOS_DATABASE: "",
      STORAGE_CONNECTION_STRING: "",
      BLOB_CONTAINER: "Bad_Name",
      REGISTRY_BLOB_DELIVERY: "proxy",
      REGISTRY_READ_URL_SECONDS: "10",
      REGISTRY_ALLOW_ANONYMOUS: "yes",
    }).message;
    for (const setting of [
      "COSMOS_ENDPOINT",
      "COSMOS_KEY",
      "COSMOS_DATABASE",
      "STORAGE_CONNECTION_STRING",
      "BLOB_CONTAINER",
      "REGISTRY_BLOB_DELIVERY",
      "REGISTRY_READ_URL_SECONDS",
      "REGISTRY_ALLOW_ANONYMOUS",
    ]) {
      expect(message, setting).toContain(`${setting}: `);
    }
    expect(message).toContain("BLOB_CONTAINER: must be a valid blob container name");
  });

  it.each([
    ["below 30", "29"],
    ["above 3600", "3601"],
    ["not a number", "soon"],
    ["fractional", "60.5"],
  ])("refuses a read URL lifetime %s", (_why, value) => {
    expect(configError({ ...required, REGISTRY_READ_URL_SECONDS: value }).message).toContain("REGISTRY_READ_URL_SECONDS: ");
  });

  it("accepts read URL lifetimes at both bounds", () => {
    expect(loadConfig({ ...required, REGISTRY_READ_URL_SECONDS: "30" }).REGISTRY_READ_URL_SECONDS).toBe(30);
    expect(loadConfig({ ...required, REGISTRY_READ_URL_SECONDS: "3600" }).REGISTRY_READ_URL_SECONDS).toBe(3600);
  });

  it.each([
    ["too short", "ab"],
    ["too long", "a".repeat(64)],
    ["with consecutive hyphens", "my--blobs"],
    ["ending in a hyphen", "blobs-"],
    ["starting with a hyphen", "-blobs"],
    ["with uppercase", "Blobs"],
  ])("refuses a blob container name %s", (_why, name) => {
    expect(configError({ ...required, BLOB_CONTAINER: name }).message).toContain("BLOB_CONTAINER: must be a valid blob container name");
  });

  it("accepts blob container names of 3 and 63 characters", () => {
    expect(loadConfig({ ...required, BLOB_CONTAINER: "abc" }).BLOB_CONTAINER).toBe("abc");
    expect(loadConfig({ ...required, BLOB_CONTAINER: "a".repeat(63) }).BLOB_CONTAINER).toBe("a".repeat(63));
  });

  it("refuses an anonymous-access switch other than true or false", () => {
    expect(configError({ ...required, REGISTRY_ALLOW_ANONYMOUS: "1" }).message).toContain("REGISTRY_ALLOW_ANONYMOUS: ");
  });

  it("reads the webhook retry schedule as seconds, and refuses one that is not a list of numbers", () => {
    expect(loadConfig({ ...required, WEBHOOK_RETRY_SECONDS: "0.5,2,30" }).WEBHOOK_RETRY_SECONDS).toEqual([0.5, 2, 30]);
    expect(configError({ ...required, WEBHOOK_RETRY_SECONDS: "1s,10s" }).message).toContain("WEBHOOK_RETRY_SECONDS: must be up to 20 comma-separated numbers");
  });
});
