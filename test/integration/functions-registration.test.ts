import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { HttpRequest } from "@azure/functions";
import { RegistryClient } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

interface Registration {
  kind: "http" | "timer";
  name: string;
  options: Record<string, unknown> & { handler: (...args: unknown[]) => Promise<unknown> };
}

const registrations: Registration[] = [];
const setups: unknown[] = [];

// Outside the Functions host, app.http only warns; record what functions/ asks it to register.
vi.mock("@azure/functions", async (importOriginal) => {
  const actual = await importOriginal<typeof import("@azure/functions")>();
  return {
    ...actual,
    app: {
      ...actual.app,
      setup: (options: unknown) => setups.push(options),
      http: (name: string, options: Registration["options"]) => registrations.push({ kind: "http", name, options }),
      timer: (name: string, options: Registration["options"]) => registrations.push({ kind: "timer", name, options }),
    },
  };
});

describe("functions/ registration", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack();
    vi.stubEnv("COSMOS_ENDPOINT", stack.config.COSMOS_ENDPOINT);
    vi.stubEnv("COSMOS_KEY", stack.config.COSMOS_KEY);
    vi.stubEnv("STORAGE_CONNECTION_STRING", stack.storageConnectionString);
    vi.stubEnv("REGISTRY_ALLOW_ANONYMOUS", "true");
    vi.stubEnv("TOKEN_SIGNING_KEY", stack.config.TOKEN_SIGNING_KEY);
    await import("../../functions/index.js");
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await stack?.destroy();
  });

  it("turns on HTTP streaming and registers the /v2/, token, JWKS, sync, health, management and console routes and the timers", () => {
    expect(setups).toEqual([{ enableHttpStream: true }]);
    const http = registrations.filter((r) => r.kind === "http");
    expect(http.map((r) => [r.name, r.options.route, r.options.authLevel])).toEqual([
      ["registry-v2", "v2/{*path}", "anonymous"],
      ["token-server", "oauth2/token", "anonymous"],
      ["jwks", ".well-known/jwks.json", "anonymous"],
      ["sync", "sync/v1/connectedRegistries/{*path}", "anonymous"],
      ["health", "health", "anonymous"],
      ["management", "management/{*path}", "anonymous"],
      ["console", "console/{*path}", "anonymous"],
    ]);
    expect(http[0]!.options.methods).toEqual(expect.arrayContaining(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]));
    const timers = registrations.filter((r) => r.kind === "timer");
    expect(timers.map((r) => r.name)).toEqual(["purge-stale-uploads", "connected-registry-health", "collect-garbage", "import-worker", "deliver-events", "reseal-webhook-secrets", "expire-token-passwords", "expire-import-operations", "purge-change-log"]);
    expect(timers.every((r) => /^\S+ \S+ \S+ \S+ \S+ \S+$/.test(String(r.options.schedule)))).toBe(true);
  });

  it("serves a real Functions HttpRequest through the registered handler", async () => {
    const image = await new RegistryClient(stack.registryUrl).pushImage("functions/app", "v1");
    const handler = registrations.find((r) => r.name === "registry-v2")!.options.handler;
    const request = new HttpRequest({
      method: "GET",
      url: "https://myregistry.example/v2/functions/app/manifests/v1",
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    const response = (await handler(request, {})) as { status: number; headers: Record<string, string>; body: Uint8Array };
    expect(response.status).toBe(200);
    expect(response.headers["Docker-Content-Digest"]).toBe(image.digest);
    expect(Buffer.from(response.body).equals(image.manifest)).toBe(true);
  });

  it("streams a request body from a Functions HttpRequest into an upload", async () => {
    const handler = registrations.find((r) => r.name === "registry-v2")!.options.handler;
    const bytes = Buffer.from("bytes through the Functions adapter");
    const digest = `sha256:${(await import("node:crypto")).createHash("sha256").update(bytes).digest("hex")}`;
    const request = new HttpRequest({
      method: "POST",
      url: `https://myregistry.example/v2/functions/upload/blobs/uploads/?digest=${digest}`,
      body: { bytes },
    });
    const response = (await handler(request, {})) as { status: number; headers: Record<string, string> };
    expect(response.status).toBe(201);
    const head = await fetch(`${stack.registryUrl}/v2/functions/upload/blobs/${digest}`, { method: "HEAD" });
    expect(head.headers.get("content-length")).toBe(String(bytes.length));
  });
});
