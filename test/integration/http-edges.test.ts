/**
 * The cloud registry's HTTP edges, probed from outside over raw sockets: names that cannot name
 * anything, paths that try to leave /v2/, unknown routes and methods, clients that stall or hang
 * up, and one address opening too many uploads.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createCloudServices } from "../../dist/shared/composition.js";
import { httpLimitsOf } from "../../dist/shared/config.js";
import { startLocalHost, type LocalHost } from "../../dist/shared/http/local-host.js";
import { buildRoutes } from "../../dist/shared/http/routes.js";
import { withMetrics } from "../../dist/shared/observability/metrics.js";
import { downloadThenHangUp, rawRequest, stalledRequest, unfinishedHeaders } from "../support/raw-http.js";
import { RegistryClient } from "../support/registry-client.js";
import { startTestStack, TEST_ADMIN_KEY, type TestStack } from "../support/stack.js";

const admin = { Authorization: `Bearer ${TEST_ADMIN_KEY}`, "Content-Type": "application/json" };

/** Every management route that takes a name or id in its path, with a body it would accept. */
const NAMED_ROUTES: Array<[method: string, path: (name: string) => string, body?: unknown]> = [
  ["GET", (n) => `scopeMaps/${n}`],
  ["PATCH", (n) => `scopeMaps/${n}`, { description: "x" }],
  ["DELETE", (n) => `scopeMaps/${n}`],
  ["GET", (n) => `tokens/${n}`],
  ["PATCH", (n) => `tokens/${n}`, { status: "disabled" }],
  ["DELETE", (n) => `tokens/${n}`],
  ["POST", (n) => `tokens/${n}/credentials/generate`, {}],
  ["GET", (n) => `connectedRegistries/${n}`],
  ["PATCH", (n) => `connectedRegistries/${n}`, { logging: "Debug" }],
  ["DELETE", (n) => `connectedRegistries/${n}`],
  ["POST", (n) => `connectedRegistries/${n}/deactivate`],
  ["GET", (n) => `connectedRegistries/${n}/clientTokens`],
  ["POST", (n) => `connectedRegistries/${n}/permissions`, { addRepositories: ["hello"] }],
  ["POST", (n) => `connectedRegistries/${n}/settings`, {}],
  ["GET", (n) => `operations/${n}`],
  ["GET", (n) => `repositories/${n}`],
  ["GET", (n) => `repositories/${n}/_tags`],
  ["DELETE", (n) => `repositories/${n}/_tags/latest`],
  ["GET", (n) => `repositories/${n}/_manifests/sha256:${"0".repeat(64)}`],
  ["GET", (n) => `repositories/hello/_manifests/${n}`],
];
/** Encoded "/", "#", "\" (Cosmos DB refuses them in ids), dot segments, raw and encoded, and an encoded "?". */
const BAD_SEGMENTS = ["a%2Fbcdef", "a%23bcdef", "a%5Cbcdef", "..", "%2e%2e", "..%2f..%2fx", "abc%3Fdef", "imp-..", "x".repeat(300)];

describe("the cloud registry's HTTP edges", () => {
  let stack: TestStack;
  let registry: RegistryClient;
  const logs: string[] = [];
  const stderr: string[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ settings: { REGISTRY_BLOB_DELIVERY: "stream" }, log: (message) => logs.push(message) });
    registry = new RegistryClient(stack.registryUrl);
    // Handlers log failures to stderr (logError): a stack trace there is what a client abort must not cause.
    const write = process.stderr.write.bind(process.stderr);
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array, ...rest: any[]) => {
      stderr.push(String(chunk));
      return write(chunk, ...rest);
    });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await stack?.destroy();
  });

  describe("management names", () => {
    it("answers every named route with 404 NotFound for a segment that cannot name anything, never 500", async () => {
      const answers: string[] = [];
      for (const segment of BAD_SEGMENTS) {
        for (const [method, path, body] of NAMED_ROUTES) {
          const response = await rawRequest(stack.registryUrl, method, `/management/${path(segment)}`, { headers: admin, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
          answers.push(`${method} ${path(segment)} -> ${response.status} ${JSON.parse(response.body).error?.code}`);
        }
      }
      expect(answers.filter((answer) => !answer.endsWith("-> 404 NotFound"))).toEqual([]);
    });

    let made = 0;
    it.each(["a/bcdef", "a#bcdef", "a\\bcdef", "..", "x".repeat(300)])("refuses the reference %s in a body with 400 InvalidRequest", async (name) => {
      await rawRequest(stack.registryUrl, "POST", "/management/tokens", { headers: admin, body: JSON.stringify({ name: "edgetoken1", scopeMap: "_repositories_pull" }) });
      const fresh = (): string => `edgeprobe${++made}`;
      const probes: Array<[string, string, unknown]> = [
        ["POST", "/management/tokens", { name: fresh(), scopeMap: name }],
        ["PATCH", "/management/tokens/edgetoken1", { scopeMap: name }],
        ["POST", "/management/connectedRegistries", { name: fresh(), syncToken: name }],
        ["POST", "/management/connectedRegistries", { name: fresh(), repositories: ["hello"], parent: name }],
        ["POST", "/management/connectedRegistries", { name: fresh(), repositories: ["hello"], clientTokens: [name] }],
        ["PATCH", "/management/connectedRegistries/nosuchregistry", { addClientTokens: [name] }],
        ["GET", `/management/connectedRegistries?parent=${encodeURIComponent(name)}`, undefined],
      ];
      // "a/bcdef" is a fine repository name; the others are not.
      if (name !== "a/bcdef") {
        probes.push(["POST", "/management/connectedRegistries", { name: fresh(), repositories: [name] }]);
        probes.push(["POST", "/management/tokens", { name: fresh(), repositories: [{ name, actions: ["content/read"] }] }]);
      }
      for (const [method, path, body] of probes) {
        const response = await rawRequest(stack.registryUrl, method, path, { headers: admin, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
        expect(`${method} ${path} ${JSON.stringify(body)} -> ${response.status} ${JSON.parse(response.body).error?.code}`).toMatch(/-> 400 InvalidRequest$/);
      }
    });

    it("still serves the names the registry makes itself, longer than a user's", async () => {
      const created = await rawRequest(stack.registryUrl, "POST", "/management/tokens", {
        headers: admin,
        body: JSON.stringify({ name: "t".repeat(50), repositories: [{ name: "hello", actions: ["content/read"] }] }),
      });
      expect(created.status).toBe(201);
      const scopeMap = await rawRequest(stack.registryUrl, "GET", `/management/scopeMaps/${"t".repeat(50)}-scope-map`, { headers: admin });
      expect(scopeMap.status).toBe(200);
    });
  });

  describe("routing on the path as sent", () => {
    it.each(["/v2/%2e%2e/management/scopeMaps", "/v2/../management/scopeMaps", "/v2/%2E%2E/management/tokens", "/v2/a/%2e%2e/%2e%2e/management/scopeMaps", "/v2/%2e%2e/health"])(
      "keeps %s with /v2/, which finds nothing there",
      async (path) => {
        const response = await rawRequest(stack.registryUrl, "GET", path, { headers: admin });
        expect(response.status).toBe(404);
        expect(response.headers["docker-distribution-api-version"]).toBe("registry/2.0");
        expect(JSON.parse(response.body).errors[0].code).toBe("UNSUPPORTED");
      },
    );

    it("keeps a dot segment that stays inside /v2/ working as URLs resolve it", async () => {
      const response = await rawRequest(stack.registryUrl, "POST", "/v2/a/%2e%2e/b/blobs/uploads/");
      expect(response.status).toBe(202);
    });
  });

  describe("unknown routes and methods", () => {
    it("answers an unknown path outside /v2/ with 404 and the JSON error", async () => {
      const response = await rawRequest(stack.registryUrl, "GET", "/nothing/here");
      expect(response.status).toBe(404);
      expect(response.headers["content-type"]).toMatch(/^application\/json/);
      expect(JSON.parse(response.body).error.code).toBe("NotFound");
    });

    it("answers an unknown path under /v2/ with 404 and the OCI error", async () => {
      const response = await rawRequest(stack.registryUrl, "GET", "/v2/hello/nothing/here");
      expect(response.status).toBe(404);
      expect(JSON.parse(response.body).errors[0].code).toBe("UNSUPPORTED");
    });

    it("answers a method a route does not take with 405, Allow and the JSON error", async () => {
      const response = await rawRequest(stack.registryUrl, "PUT", "/oauth2/token", { body: "" });
      expect(response.status).toBe(405);
      expect(response.headers.allow).toBe("GET, POST");
      expect(JSON.parse(response.body).error.code).toBe("MethodNotAllowed");
    });

    it("answers a method a management resource does not take with 405 and Allow", async () => {
      const response = await rawRequest(stack.registryUrl, "PUT", "/management/scopeMaps", { headers: admin, body: "{}" });
      expect(response.status).toBe(405);
      expect(response.headers.allow).toBe("GET, POST");
      expect(JSON.parse(response.body).error.code).toBe("MethodNotAllowed");
    });

    it.each([
      ["PATCH", "/v2/hello/manifests/latest", "GET, HEAD, PUT, DELETE"],
      ["OPTIONS", "/v2/", "GET, HEAD"],
      ["TRACE", "/v2/hello/tags/list", "GET"],
    ])("answers %s %s with 405 UNSUPPORTED and Allow", async (method, path, allow) => {
      const response = await rawRequest(stack.registryUrl, method, path);
      expect(response.status).toBe(405);
      expect(response.headers.allow).toBe(allow);
      expect(JSON.parse(response.body).errors[0].code).toBe("UNSUPPORTED");
    });
  });

  describe("clients that go away", () => {
    async function metric(status: string, method: string): Promise<number> {
      const text = await (await registry.fetch("/metrics")).text();
      const line = text.split("\n").find((l) => l.startsWith("registry_http_requests_total{") && l.includes('route="registry-v2"') && l.includes(`method="${method}"`) && l.includes(`status="${status}"`));
      return line ? Number(line.split(" ").pop()) : 0;
    }

    it("counts an upload the client abandons as 499 and logs one line without a stack", async () => {
      const started = await registry.fetch("/v2/aborts/blobs/uploads/", { method: "POST" });
      expect(started.status).toBe(202);
      const location = started.headers.get("location")!;
      const before = { aborted: await metric("499", "PATCH"), failed: await metric("500", "PATCH") };
      stderr.length = 0;
      logs.length = 0;
      const upload = stalledRequest(stack.registryUrl, "PATCH", location, 1_000_000, "x".repeat(64 * 1024), { "Content-Type": "application/octet-stream" });
      await new Promise((resolve) => setTimeout(resolve, 500));
      upload.socket.destroy();
      await expect.poll(() => metric("499", "PATCH"), { timeout: 10_000 }).toBe(before.aborted + 1);
      expect(await metric("500", "PATCH")).toBe(before.failed);
      const gone = logs.filter((line) => line.includes("client closed the connection"));
      expect(gone).toHaveLength(1);
      expect(gone[0]).not.toContain("\n");
      expect(stderr.join("")).not.toMatch(/failed|    at /);
    });

    it("logs nothing for downloads whose client hangs up once it has every byte", async () => {
      const blob = randomBytes(3 * 1024 * 1024);
      const digest = await registry.pushBlob("downloads", blob);
      stderr.length = 0;
      logs.length = 0;
      for (let i = 0; i < 20; i++) {
        const received = await downloadThenHangUp(stack.registryUrl, `/v2/downloads/blobs/${digest}`, blob.length);
        expect(received).toBe(blob.length);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(logs.filter((line) => /failed|Premature|client closed/.test(line))).toEqual([]);
      expect(stderr.join("")).not.toMatch(/Premature|failed/);
      expect(await metric("500", "GET")).toBe(0);
    });
  });

  describe("with short limits", () => {
    let host: LocalHost;
    const hostLogs: Array<[string, string | undefined]> = [];

    beforeAll(async () => {
      // The settings as an operator gives them, on a second host over the same stores.
      const config = { ...stack.config, HTTP_BODY_IDLE_TIMEOUT_SECONDS: 1, HTTP_HEADERS_TIMEOUT_SECONDS: 1, HTTP_REQUEST_TIMEOUT_SECONDS: 30, HTTP_MAX_UPLOADS_PER_CLIENT: 2 };
      host = await startLocalHost(withMetrics(buildRoutes(createCloudServices(config, () => {}))), [], {
        host: "127.0.0.1",
        port: 0,
        limits: httpLimitsOf(config),
        log: (message, level) => hostLogs.push([message, level]),
      });
    });
    afterAll(async () => host?.close());

    it("cuts a body that stops arriving after the idle timeout, and logs it as the client's", async () => {
      const started = await fetch(`${host.url}/v2/slowloris/blobs/uploads/`, { method: "POST" });
      const begun = Date.now();
      const upload = stalledRequest(host.url, "PATCH", started.headers.get("location")!, 1_000_000, "x".repeat(1000));
      const { at } = await upload.closed;
      expect(at - begun).toBeGreaterThanOrEqual(900);
      expect(at - begun).toBeLessThan(5000);
      expect(hostLogs.filter(([message, level]) => level === "warn" && message.includes("no body bytes for 1 s"))).toHaveLength(1);
      const metrics = await (await fetch(`${host.url}/metrics`)).text();
      expect(metrics).toMatch(/registry_http_requests_total\{route="registry-v2",method="PATCH",status="499"\} 1/);
    });

    it("cuts a client that never finishes its headers", async () => {
      const begun = Date.now();
      const closed = await unfinishedHeaders(host.url);
      expect(closed.at - begun).toBeLessThan(5000);
      expect(closed.text).toMatch(/^HTTP\/1\.1 408/);
    });

    it("gives a slot back when an upload ends, however it was answered", async () => {
      const client = new RegistryClient(host.url);
      for (let i = 0; i < 5; i++) await client.pushBlob("sequential", Buffer.from(`blob ${i}`));
      // Answered before the body was read (a bad digest, an unknown upload): the slots come back too.
      for (let i = 0; i < 5; i++) {
        const refused = await fetch(`${host.url}/v2/sequential/blobs/uploads/?digest=sha256:${"0".repeat(64)}`, { method: "POST", body: "not that" });
        expect(refused.status).toBe(400);
        const unknown = await fetch(`${host.url}/v2/sequential/blobs/uploads/no-such-upload`, { method: "PATCH", body: "bytes" });
        expect(unknown.status).toBe(404);
      }
    });

    it("answers 429 TOOMANYREQUESTS with Retry-After beyond the uploads one address may hold (management requests not counted), and takes uploads again once they end", async () => {
      const first = stalledRequest(host.url, "POST", "/v2/capped/blobs/uploads/", 1000, "x");
      const second = stalledRequest(host.url, "POST", "/v2/capped/blobs/uploads/", 1000, "x");
      await new Promise((resolve) => setTimeout(resolve, 200));
      const third = await rawRequest(host.url, "POST", "/v2/capped/blobs/uploads/", { body: "y".repeat(10) });
      expect(third.status).toBe(429);
      expect(third.headers["retry-after"]).toBe("5");
      expect(JSON.parse(third.body).errors[0].code).toBe("TOOMANYREQUESTS");
      // Management requests are not uploads: a capped client still manages (here: a clear 400 for an empty body).
      const notCounted = await rawRequest(host.url, "POST", "/management/tokens", { headers: admin, body: "{}" });
      expect(notCounted.status).toBe(400);
      // The stalled two are cut by the idle timeout, and their slots come back.
      await Promise.all([first.closed, second.closed]);
      const digest = await new RegistryClient(host.url).pushBlob("capped", Buffer.from("after the stall"));
      expect(digest).toMatch(/^sha256:/);
    });
  });
});
