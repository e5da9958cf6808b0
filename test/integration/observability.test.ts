/** Health, correlation ids and metrics on the local stack, as an operator would check them. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCloudServices } from "../../dist/shared/composition.js";
import { withCorrelationId } from "../../dist/shared/observability/correlation.js";
import { createHealthHandler } from "../../dist/shared/observability/health.js";
import { logLine } from "../../dist/shared/observability/log.js";
import { startTestStack, type TestStack } from "../support/stack.js";

describe("observability", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack();
  }, 60_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  it("reports healthy when Cosmos DB, Blob Storage and the import queue answer", async () => {
    const response = await fetch(`${stack.registryUrl}/health`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; checks: Record<string, { status: string }> };
    expect(body.status).toBe("Healthy");
    expect(Object.keys(body.checks).sort()).toEqual(["blobStorage", "cosmos", "importQueue"]);
  });

  it("reports unhealthy, naming what failed, when storage cannot be reached", async () => {
    const broken = createCloudServices({ ...stack.config, STORAGE_CONNECTION_STRING: stack.storageConnectionString.replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:9") }, () => {});
    const response = await createHealthHandler(broken.health)({ method: "GET", url: new URL("http://x/health"), headers: new Headers(), body: null });
    expect(response.status).toBe(503);
    const body = JSON.parse(String(response.body)) as { checks: Record<string, { status: string; error?: string }> };
    expect(body.checks.cosmos!.status).toBe("Healthy");
    expect(body.checks.blobStorage!.status).toBe("Unhealthy");
    expect(body.checks.importQueue!.status).toBe("Unhealthy");
  }, 30_000);

  it("returns a correlation id with every response, keeping the caller's own", async () => {
    const generated = await fetch(`${stack.registryUrl}/v2/`);
    expect(generated.headers.get("x-correlation-id")).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await fetch(`${stack.registryUrl}/v2/`, { headers: { "X-Correlation-Id": "support-case-4711" } });
    expect(kept.headers.get("x-correlation-id")).toBe("support-case-4711");
    const replaced = await fetch(`${stack.registryUrl}/v2/`, { headers: { "X-Correlation-Id": "bad id with spaces" } });
    expect(replaced.headers.get("x-correlation-id")).not.toBe("bad id with spaces");
  });

  it("writes the correlation id into log lines written while a request runs", async () => {
    const line = await withCorrelationId("req-42", async () => logLine("error", "something failed", { repository: "hello-world" }));
    expect(JSON.parse(line)).toMatchObject({ level: "error", correlationId: "req-42", message: "something failed", repository: "hello-world" });
  });

  it("serves Prometheus metrics of the requests it served", async () => {
    await fetch(`${stack.registryUrl}/v2/`);
    const text = await (await fetch(`${stack.registryUrl}/metrics`)).text();
    expect(text).toMatch(/registry_http_requests_total\{route="registry-v2",method="GET",status="200"\} \d+/);
    expect(text).toMatch(/registry_http_request_duration_seconds_bucket\{le="0\.1",route="registry-v2"\} \d+/);
  });
});
