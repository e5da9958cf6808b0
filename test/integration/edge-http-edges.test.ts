/**
 * The edge agent's HTTP edges, probed from outside over raw sockets, with short limits given as
 * flags: paths that try to leave /v2/, unknown routes and methods, clients that stall or hang
 * up, one address opening too many uploads, and downloads whose client hangs up at the end.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually, removeEdgeData, startEdge, type EdgeProcess } from "../support/edge.js";
import { ManagementClient } from "../support/management-client.js";
import { downloadThenHangUp, rawRequest, stalledRequest, unfinishedHeaders } from "../support/raw-http.js";
import { AuthorizedClient, basicAuthorization, sha256 } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

describe("the edge agent's HTTP edges", () => {
  let stack: TestStack;
  let edge: EdgeProcess;
  let writer: string;
  const layer = randomBytes(3 * 1024 * 1024);

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    const management = new ManagementClient(stack.registryUrl);
    const adminPassword = await management.tokenWithPassword("cloudadmin", { scopeMap: "_repositories_admin" });
    const cloud = new AuthorizedClient(stack.registryUrl, basicAuthorization("cloudadmin", adminPassword));
    await cloud.pushBlob("big", layer);
    const config = Buffer.from("{}");
    await cloud.pushBlob("big", config);
    const manifest = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(layer), size: layer.length }],
    };
    expect((await cloud.putManifest("big", "v1", manifest)).status).toBe(201);
    writer = basicAuthorization("writer", await management.tokenWithPassword("writer", { scopeMap: "_repositories_push" }));
    const connectionString = await createConnectedRegistry(management, { name: "edgeprobe1", mode: "ReadWrite", repositories: ["big"], clientTokens: ["writer"] }, stack.registryHost);
    edge = await startEdge({ connectionString, args: ["--body-idle-timeout", "1", "--headers-timeout", "1", "--request-timeout", "60", "--max-uploads-per-client", "2"] });
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync");
  }, 120_000);

  afterAll(async () => {
    await edge?.stop();
    if (edge) await removeEdgeData(edge.dataDir);
    await stack?.destroy();
  });

  async function metric(status: string, method: string): Promise<number> {
    const text = await (await fetch(`${edge.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith("connected_registry_http_requests_total{") && l.includes('route="v2"') && l.includes(`method="${method}"`) && l.includes(`status="${status}"`));
    return line ? Number(line.split(" ").pop()) : 0;
  }

  const errors = (): Array<Record<string, unknown>> => edge.logs.filter((line) => line.level === "error");

  it.each(["/v2/%2e%2e/status", "/v2/../metrics", "/v2/%2E%2E/sync/v1/connectedRegistries/x/status"])("keeps %s with /v2/, which finds nothing there", async (path) => {
    const response = await rawRequest(edge.url, "GET", path, { headers: { Authorization: writer } });
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body).errors[0].code).toBe("UNSUPPORTED");
  });

  it("answers unknown paths with 404 and methods a route does not take with 405, in JSON", async () => {
    const unknown = await rawRequest(edge.url, "GET", "/nothing/here");
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).error.code).toBe("NotFound");
    const wrongMethod = await rawRequest(edge.url, "DELETE", "/status");
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe("GET");
    expect(JSON.parse(wrongMethod.body).error.code).toBe("MethodNotAllowed");
    const underV2 = await rawRequest(edge.url, "OPTIONS", "/v2/");
    expect(underV2.status).toBe(405);
    expect(underV2.headers.allow).toBe("GET, HEAD");
    expect(JSON.parse(underV2.body).errors[0].code).toBe("UNSUPPORTED");
  });

  async function startUpload(): Promise<string> {
    const response = await fetch(`${edge.url}/v2/big/blobs/uploads/`, { method: "POST", headers: { Authorization: writer } });
    expect(response.status).toBe(202);
    return response.headers.get("location")!;
  }

  it("cuts an upload body that stops arriving after --body-idle-timeout, logs a warning and counts 499", async () => {
    const before = await metric("499", "PATCH");
    const location = await startUpload();
    const begun = Date.now();
    const upload = stalledRequest(edge.url, "PATCH", location, 1_000_000, "x".repeat(1000), { Authorization: writer });
    const { at } = await upload.closed;
    expect(at - begun).toBeGreaterThanOrEqual(900);
    expect(at - begun).toBeLessThan(5000);
    await eventually(async () => (await metric("499", "PATCH")) === before + 1, 10_000, "the 499 counted");
    expect(edge.logs.filter((line) => line.level === "warn" && String(line.message).includes("no body bytes for 1 s"))).toHaveLength(1);
    expect(errors()).toEqual([]);
  });

  it("logs an upload the client abandons as one info line, counted as 499, not as an error", async () => {
    const before = await metric("499", "PATCH");
    const location = await startUpload();
    const upload = stalledRequest(edge.url, "PATCH", location, 1_000_000, "x".repeat(64 * 1024), { Authorization: writer });
    await new Promise((resolve) => setTimeout(resolve, 300));
    upload.socket.destroy();
    await eventually(async () => (await metric("499", "PATCH")) === before + 1, 10_000, "the 499 counted");
    expect(edge.logs.filter((line) => line.level === "info" && String(line.message).includes("client closed the connection"))).toHaveLength(1);
    expect(await metric("500", "PATCH")).toBe(0);
    expect(errors()).toEqual([]);
  });

  it("cuts a client that never finishes its headers after --headers-timeout", async () => {
    const begun = Date.now();
    const closed = await unfinishedHeaders(edge.url);
    expect(closed.at - begun).toBeLessThan(5000);
    expect(closed.text).toMatch(/^HTTP\/1\.1 408/);
  });

  it("answers 429 TOOMANYREQUESTS with Retry-After beyond --max-uploads-per-client", async () => {
    // Unauthenticated: answered 401 at once, but their bodies still hold their slots until they end.
    const first = stalledRequest(edge.url, "POST", "/v2/big/blobs/uploads/", 1000, "x");
    const second = stalledRequest(edge.url, "POST", "/v2/big/blobs/uploads/", 1000, "x");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const third = await rawRequest(edge.url, "POST", "/v2/big/blobs/uploads/", { headers: { Authorization: writer }, body: "y" });
    expect(third.status).toBe(429);
    expect(third.headers["retry-after"]).toBe("5");
    expect(JSON.parse(third.body).errors[0].code).toBe("TOOMANYREQUESTS");
    await Promise.all([first.closed, second.closed]);
    const after = await rawRequest(edge.url, "POST", `/v2/big/blobs/uploads/?digest=${sha256("y")}`, { headers: { Authorization: writer }, body: "y" });
    expect(after.status).toBe(201);
  });

  it("logs nothing for downloads whose client hangs up once it has every byte", async () => {
    const logged = edge.logs.length;
    for (let i = 0; i < 30; i++) {
      const received = await downloadThenHangUp(edge.url, `/v2/big/blobs/${sha256(layer)}`, layer.length, { Authorization: writer });
      expect(received).toBe(layer.length);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(edge.logs.slice(logged).filter((line) => line.level === "error" || /Premature|client closed/.test(String(line.message)))).toEqual([]);
  });
});
