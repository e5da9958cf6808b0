/**
 * Connected-registry notifications (docs/events.md): images that arrive at or leave an
 * edge and match its `notifications` patterns reach the cloud's webhooks, naming the
 * connected registry; a child's pass up through its parent edge.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually, removeEdgeData, startEdge, type EdgeProcess } from "../support/edge.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, basicAuthorization } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";
import { WebhookReceiver } from "../support/webhook-receiver.js";

describe("connected-registry notifications", () => {
  let stack: TestStack;
  let management: ManagementClient;
  let cloud: AuthorizedClient;
  const hook = new WebhookReceiver();
  const edges: EdgeProcess[] = [];

  beforeAll(async () => {
    await hook.start();
    stack = await startTestStack({ anonymous: false, settings: { WEBHOOK_RETRY_SECONDS: "0.2,0.5,1,1,1" } });
    management = new ManagementClient(stack.registryUrl);
    cloud = new AuthorizedClient(stack.registryUrl, basicAuthorization("notifyadmin", await management.tokenWithPassword("notifyadmin", { scopeMap: "_repositories_admin" })));
    expect((await management.call("POST", "webhooks", { name: "edgehook", serviceUri: hook.url, actions: ["push", "delete"] })).status).toBe(201);
    await cloud.pushImage("notify/app", "base");
    const connectionA = await createConnectedRegistry(management, { name: "notifyA", mode: "ReadOnly", repositories: ["notify/app"] }, stack.registryHost);
    expect((await management.call("PATCH", "connectedRegistries/notifyA", { notifications: ["notify/app:v*:push", "notify/app:*:delete"] })).status).toBe(200);
    const edgeA = await startEdge({ connectionString: connectionA, advertise: true });
    edges.push(edgeA);
    await eventually(async () => (await management.call("GET", "connectedRegistries/notifyA")).body.loginServer?.host === edgeA.host, 10_000, "A's address reported");
    await eventually(async () => (await edgeA.status()).fullSyncDone, 30_000, "A's first sync");
    const connectionB = await createConnectedRegistry(management, { name: "notifyB", mode: "ReadOnly", parent: "notifyA", repositories: ["notify/app"] });
    expect((await management.call("PATCH", "connectedRegistries/notifyB", { notifications: ["notify/app:*:*"] })).status).toBe(200);
    const edgeB = await startEdge({ connectionString: connectionB });
    edges.push(edgeB);
    await eventually(async () => (await edgeB.status()).fullSyncDone, 45_000, "B's first sync");
  }, 180_000);

  afterAll(async () => {
    for (const edge of edges.reverse()) {
      await edge.stop();
      await removeEdgeData(edge.dataDir);
    }
    await hook.stop();
    await stack?.destroy();
  });

  const seen = (registry: string | null, action: string, tag: string | null) =>
    hook.events().filter((e) => (e.data.connectedRegistry?.name ?? null) === registry && e.data.action === action && (e.data.target.tag ?? null) === tag);

  it("reports the base image's arrival at B (its pattern matches every tag) and not at A (only v* tags)", async () => {
    await hook.waitFor(() => seen("notifyB", "push", "base").length > 0, 30_000);
    expect(seen("notifyA", "push", "base")).toHaveLength(0);
  });

  it("delivers an image's arrival at each edge, naming it, and its leaving after a delete, through a parent edge", async () => {
    const pushed = await cloud.pushImage("notify/app", "v1");
    await cloud.pushImage("notify/app", "dev");
    await hook.waitFor(() => seen("notifyA", "push", "v1").length > 0 && seen("notifyB", "push", "v1").length > 0 && seen("notifyB", "push", "dev").length > 0, 45_000);
    const [atA] = seen("notifyA", "push", "v1");
    expect(atA).toMatchObject({
      eventType: "Microsoft.ContainerRegistry.ImagePushed",
      data: { action: "push", target: { repository: "notify/app", tag: "v1", digest: pushed.digest, size: pushed.manifest.length }, connectedRegistry: { name: "notifyA" } },
    });
    // The cloud's own push event is there too, without a connected registry.
    expect(seen(null, "push", "v1")).toHaveLength(1);
    expect(seen("notifyA", "push", "dev")).toHaveLength(0);

    expect((await cloud.fetch("/v2/notify/app/manifests/v1", { method: "DELETE" })).status).toBe(202);
    await hook.waitFor(() => seen("notifyA", "delete", "v1").length > 0 && seen("notifyB", "delete", "v1").length > 0, 45_000);
    expect(seen("notifyB", "delete", "v1")[0]!.data.target.digest).toBe(pushed.digest);
    // Each edge event has its own id, the same on every resend.
    const edgeEvents = hook.events().filter((e) => e.data.connectedRegistry);
    const byId = new Map<string, string>();
    for (const event of edgeEvents) {
      const key = `${event.data.connectedRegistry.name} ${event.data.action} ${event.data.target.tag}`;
      expect(byId.get(event.id) ?? key).toBe(key);
      byId.set(event.id, key);
    }
  });
});
