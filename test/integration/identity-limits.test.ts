import type { Container } from "@azure/cosmos";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCosmosClient } from "../../shared/composition.js";
import { IDENTITY_CONTAINER } from "../../shared/store/cosmos/containers.js";
import { CosmosIdentityStore } from "../../shared/store/cosmos/identity-store.js";
import { ManagementClient } from "../support/management-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

/**
 * Puts the registry at `count` tokens or scope maps as far as the limit is concerned: the
 * limit is enforced on the registry's counter, so the counter is what is set, plus one
 * real document to delete later. (Writing 19,990 real documents is what a real Cosmos DB
 * takes in its stride, but the local server scans every document on each write and
 * takes seconds per create at that size.)
 */
async function seedCounter(container: Container, registry: string, kind: "token" | "scopeMap", count: number): Promise<void> {
  const now = new Date().toISOString();
  const name = `seed-${kind}-00000`;
  const fields = kind === "token" ? { scopeMap: "_repositories_pull", status: "enabled", passwords: [] } : { actions: ["repositories/seed/content/read"] };
  await container.items.create({ id: `${kind}:${name}`, registry, type: kind, name, ...fields, createdAt: now, updatedAt: now });
  await container.items.upsert({ id: kind === "token" ? "counter:tokens" : "counter:scopeMaps", registry, type: "counter", count });
}

async function countDocuments(container: Container, registry: string, kind: string): Promise<number> {
  const { resources } = await container.items
    .query<number>({ query: "SELECT VALUE COUNT(1) FROM c WHERE c.registry = @registry AND c.type = @type", parameters: [{ name: "@registry", value: registry }, { name: "@type", value: kind }] })
    .fetchAll();
  return resources[0] ?? 0;
}

describe("identity limits under concurrency", () => {
  let stack: TestStack;
  let admin: ManagementClient;
  let container: Container;
  let store: CosmosIdentityStore;

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    admin = new ManagementClient(stack.registryUrl);
    container = createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE).container(IDENTITY_CONTAINER.id);
    store = new CosmosIdentityStore(container, stack.config.REGISTRY_NAME);
  });
  afterAll(async () => stack?.destroy());

  it("ends 50 token creates racing at 19,990 tokens with exactly 20,000 and 40 clear refusals", async () => {
    await seedCounter(container, stack.config.REGISTRY_NAME, "token", 19_990);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => admin.call("POST", "tokens", { name: `race-token-${i}`, scopeMap: "_repositories_pull" })),
    );
    const created = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 409);
    expect(created).toHaveLength(10);
    expect(refused).toHaveLength(40);
    for (const refusal of refused) {
      expect(refusal.body.error.code).toBe("QuotaExceeded");
      expect(refusal.body.error.message).toContain("20000 tokens");
      expect(refusal.body.error.message).toContain("tokensPerRegistry");
    }
    // The seed document plus exactly the ten that got a slot.
    expect(await countDocuments(container, stack.config.REGISTRY_NAME, "token")).toBe(11);
    expect((await store.usage()).tokens).toBe(20_000);

    // Deleting one frees exactly one slot.
    expect((await admin.call("DELETE", "tokens/seed-token-00000")).status).toBe(204);
    const again = await Promise.all(Array.from({ length: 3 }, (_, i) => admin.call("POST", "tokens", { name: `late-token-${i}`, scopeMap: "_repositories_pull" })));
    expect(again.filter((r) => r.status === 201)).toHaveLength(1);
    expect((await store.usage()).tokens).toBe(20_000);
  });

  it("ends 50 scope-map creates racing at 19,990 scope maps with exactly 20,000", async () => {
    await seedCounter(container, stack.config.REGISTRY_NAME, "scopeMap", 19_990);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => admin.call("POST", "scopeMaps", { name: `race-map-${i}`, actions: ["repositories/race/content/read"] })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(10);
    const refused = results.filter((r) => r.status === 409);
    expect(refused).toHaveLength(40);
    expect(refused.every((r) => r.body.error.message.includes("scopeMapsPerRegistry"))).toBe(true);
    expect(await countDocuments(container, stack.config.REGISTRY_NAME, "scopeMap")).toBe(11);
    expect((await store.usage()).scopeMaps).toBe(20_000);
  });

  it("keeps a scope map at 500 actions when 40 updates race to add one each from 480", async () => {
    const initial = Array.from({ length: 480 }, (_, i) => `repositories/app${i}/content/read`);
    // The scope-map limit is full from the test above: free a slot for this one.
    expect((await admin.call("DELETE", "scopeMaps/seed-scopeMap-00000")).status).toBe(204);
    expect((await admin.call("POST", "scopeMaps", { name: "crowded-map", actions: initial })).status).toBe(201);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => admin.call("PATCH", "scopeMaps/crowded-map", { addActions: [`repositories/extra${i}/content/read`] })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(20);
    const refused = results.filter((r) => r.status === 409);
    expect(refused).toHaveLength(20);
    expect(refused.every((r) => r.body.error.code === "QuotaExceeded" && r.body.error.message.includes("actionsPerScopeMap"))).toBe(true);
    const final = await admin.call("GET", "scopeMaps/crowded-map");
    expect(final.body.actions).toHaveLength(500);
    // Every successful update is in, none was lost to a race.
    const added = final.body.actions.filter((a: string) => a.startsWith("repositories/extra"));
    expect(added).toHaveLength(20);
  });
});
