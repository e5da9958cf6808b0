/**
 * "Where is it" and status history against the real stack and real edge agents: edges (one
 * nested under another) report what they hold, the cloud answers which edges hold a tag or a
 * manifest and whether it is the cloud's digest; the inventory upload refuses content that does
 * not match its digest; agents without inventories are not asked for one; and each connected
 * registry's status changes are kept (Online -> Offline by the health sweep, deactivation).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCosmosClient } from "../../shared/composition.js";
import { inventoryDigest, parseConnectionString } from "../../shared/domain/connected-registry/index.js";
import { CosmosConnectedRegistryStore } from "../../shared/store/cosmos/connected-registry-store.js";
import { CosmosEdgeInventoryStore } from "../../shared/store/cosmos/edge-inventory-store.js";
import { IDENTITY_CONTAINER } from "../../shared/store/cosmos/containers.js";
import { SILENCE_BEFORE_OFFLINE_MS, markSilentRegistriesOffline } from "../../shared/sync/health-sweep.js";
import { createConnectedRegistry, eventually, removeEdgeData, startEdge, type EdgeProcess } from "../support/edge.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, basicAuthorization } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

describe("edge inventories and status history", () => {
  let stack: TestStack;
  let management: ManagementClient;
  let cloud: AuthorizedClient;
  let plant: EdgeProcess;
  let line: EdgeProcess;
  let v1: string;
  let store: CosmosConnectedRegistryStore;

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    management = new ManagementClient(stack.registryUrl);
    cloud = new AuthorizedClient(stack.registryUrl, basicAuthorization("invadmin", await management.tokenWithPassword("invadmin", { scopeMap: "_repositories_admin" })));
    v1 = (await cloud.pushImage("inv/app", "v1")).digest;
    await cloud.pushImage("inv/app", "v2");
    await cloud.pushImage("inv/other", "v1");
    store = new CosmosConnectedRegistryStore(createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE).container(IDENTITY_CONTAINER.id), stack.config.REGISTRY_NAME);
    // The cloud -> invplant (both repositories) -> invline (inv/app only): the child's inventory goes through its parent edge.
    plant = await startEdge({ connectionString: await createConnectedRegistry(management, { name: "invplant", repositories: ["inv/app", "inv/other"] }, stack.registryHost), advertise: true });
    await eventually(async () => (await plant.status()).fullSyncDone, 30_000, "invplant synced");
    line = await startEdge({ connectionString: await createConnectedRegistry(management, { name: "invline", parent: "invplant", repositories: ["inv/app"] }, plant.host) });
    await eventually(async () => (await line.status()).fullSyncDone, 30_000, "invline synced");
  }, 120_000);

  afterAll(async () => {
    for (const edge of [line, plant]) {
      await edge?.stop();
      if (edge) await removeEdgeData(edge.dataDir);
    }
    await stack?.destroy();
  });

  const locations = async (path: string) => {
    const answer = await management.call("GET", `repositories/${path}/locations`);
    expect(answer.status).toBe(200);
    return answer.body as { digest?: string | null; value: Array<{ connectedRegistry: string; digest: string; matches: boolean; reportedAt: string; truncated: boolean; tags?: string[] }> };
  };

  it("answers which edges hold a tag, with their digest, including the nested edge, and not an edge outside its scope", async () => {
    const where = await eventually(async () => {
      const answer = await locations("inv/app/_tags/v1");
      return answer.value.length === 2 ? answer : undefined;
    }, 30_000, "both edges' inventories for inv/app:v1");
    expect(where.digest).toBe(v1);
    expect(where.value.map(({ connectedRegistry, digest, matches, truncated }) => ({ connectedRegistry, digest, matches, truncated }))).toEqual([
      { connectedRegistry: "invline", digest: v1, matches: true, truncated: false },
      { connectedRegistry: "invplant", digest: v1, matches: true, truncated: false },
    ]);
    expect((await locations("inv/other/_tags/v1")).value.map((entry) => entry.connectedRegistry)).toEqual(["invplant"]);
    const manifest = await locations(`inv/app/_manifests/${v1}`);
    expect(manifest.value.map(({ connectedRegistry, tags, matches }) => ({ connectedRegistry, tags, matches }))).toEqual([
      { connectedRegistry: "invline", tags: ["v1"], matches: true },
      { connectedRegistry: "invplant", tags: ["v1"], matches: true },
    ]);
    const badTag = await management.call("GET", "repositories/inv/app/_tags/-v1/locations");
    expect(badTag.status).toBe(404);
    expect(JSON.stringify(badTag.body)).toContain('no tag can be named \\"-v1\\"');
  });

  it("shows an edge that missed a tag's move with its old digest, and the health sweep's Offline in its status history", async () => {
    await eventually(async () => (await locations("inv/app/_tags/v1")).value.length === 2, 30_000, "both edges listed");
    await line.stop();
    const moved = (await cloud.pushImage("inv/app", "v1")).digest;
    const where = await eventually(async () => {
      const answer = await locations("inv/app/_tags/v1");
      return answer.value.find((entry) => entry.connectedRegistry === "invplant")?.digest === moved ? answer : undefined;
    }, 30_000, "invplant reports the moved tag");
    expect(where.digest).toBe(moved);
    expect(where.value.find((entry) => entry.connectedRegistry === "invline")).toMatchObject({ digest: v1, matches: false });
    expect((await locations(`inv/app/_manifests/${v1}`)).value).toEqual([expect.objectContaining({ connectedRegistry: "invline", tags: ["v1"], matches: false })]);

    // The real sweep, run as if the silence had lasted: invline goes Offline and its history says when.
    expect(await markSilentRegistriesOffline(store, Date.now() + SILENCE_BEFORE_OFFLINE_MS + 1000, () => {})).toContain("invline");
    const history = await management.call("GET", "connectedRegistries/invline/statusHistory");
    expect(history.status).toBe(200);
    const states = (history.body.value as Array<{ connectionState: string; activation: string }>).map((change) => `${change.connectionState}/${change.activation}`);
    expect(states[0]).toBe("Offline/Active");
    expect(states.slice(1)).toContain("Online/Active");
    expect((await management.call("GET", "connectedRegistries/nosuchedge/statusHistory")).status).toBe(404);
  });

  it("deletes a deleted connected registry's inventory documents with it, with and without cleanup", async () => {
    const inventories = new CosmosEdgeInventoryStore(createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE).container(IDENTITY_CONTAINER.id), stack.config.REGISTRY_NAME);
    const held = async (edge: string) => (await inventories.forRepository("inv/gone")).filter((entry) => entry.connectedRegistry === edge);
    for (const [name, cleanup] of [["invgone1", false], ["invgone2", true]] as const) {
      expect((await management.call("POST", "connectedRegistries", { name, repositories: ["inv/gone"] })).status).toBe(201);
      // Two generations, as an edge leaves them between an upload and the prune.
      await inventories.write(name, `sha256:${"a".repeat(64)}`, { repositories: { "inv/gone": { v1 } }, truncated: false });
      await inventories.write(name, `sha256:${"b".repeat(64)}`, { repositories: { "inv/gone": { v1 } }, truncated: false });
      expect(await held(name)).toHaveLength(2);
      expect((await management.call("DELETE", `connectedRegistries/${name}${cleanup ? "?cleanup=true" : ""}`)).status).toBe(204);
      expect(await held(name)).toEqual([]);
    }
  });

  describe("the protocol", () => {
    async function syncCredentials(name: string): Promise<{ name: string; basic: string; instance: string }> {
      expect((await management.call("POST", "connectedRegistries", { name, mode: "ReadOnly", repositories: ["inv/app"] })).status).toBe(201);
      const settings = await management.call("POST", `connectedRegistries/${name}/settings`, { parentProtocol: "http", generatePassword: 1 });
      const parsed = parseConnectionString(settings.body.connectionString);
      if (!parsed.ok) throw new Error(parsed.message);
      const credentials = { name, basic: basicAuthorization(parsed.settings.syncTokenName, parsed.settings.syncTokenPassword), instance: randomUUID() };
      expect((await sync(credentials, "activate", { instanceId: credentials.instance, protocolVersions: ["1"], capabilities: [], acceptedMediaTypes: [] })).status).toBe(200);
      return credentials;
    }

    async function sync(credentials: { name: string; basic: string }, operation: string, body: unknown): Promise<{ status: number; body: any }> {
      const response = await fetch(`${stack.registryUrl}/sync/v1/connectedRegistries/${credentials.name}/${operation}`, {
        method: "POST",
        headers: { Authorization: credentials.basic, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    }

    it("asks only an edge that sends an inventory digest, and refuses an inventory whose content does not match it, keeping the last one", async () => {
      const edge = await syncCredentials("invproto");
      const old = await sync(edge, "status", { instanceId: edge.instance, state: "Online" });
      expect(old.status).toBe(200);
      expect(old.body.inventoryWanted).toBeUndefined();

      const content = { repositories: { "inv/app": { v1 } }, truncated: false };
      const digest = inventoryDigest(content);
      expect((await sync(edge, "status", { instanceId: edge.instance, state: "Online", inventoryDigest: digest })).body.inventoryWanted).toBe(true);
      const accepted = await sync(edge, "inventory", { instanceId: edge.instance, digest, ...content });
      expect(accepted).toEqual({ status: 200, body: { accepted: true, digest, tags: 1 } });
      expect((await sync(edge, "status", { instanceId: edge.instance, state: "Online", inventoryDigest: digest })).body.inventoryWanted).toBeUndefined();

      const forged = await sync(edge, "inventory", { instanceId: edge.instance, digest, repositories: { "inv/app": { v1, v9: v1 } }, truncated: false });
      expect(forged.status).toBe(400);
      expect(forged.body.errors[0]).toMatchObject({ code: "INVALID_REQUEST", message: expect.stringContaining("canonical form") });
      const stranger = await sync(edge, "inventory", { instanceId: randomUUID(), digest, ...content });
      expect(stranger.status).toBe(403);
      const where = await locations("inv/app/_tags/v9");
      expect(where.value.map((entry) => entry.connectedRegistry)).not.toContain("invproto");
      expect((await locations("inv/app/_tags/v1")).value.map((entry) => entry.connectedRegistry)).toContain("invproto");

      expect((await management.call("POST", "connectedRegistries/invproto/deactivate")).status).toBe(200);
      const history = (await management.call("GET", "connectedRegistries/invproto/statusHistory")).body.value as Array<{ connectionState: string; activation: string; timestamp: string }>;
      expect(history.map((change) => `${change.connectionState}/${change.activation}`)).toEqual(["Online/Inactive", "Online/Active"]);
    });
  });
});
