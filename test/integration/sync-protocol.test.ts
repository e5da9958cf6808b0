import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConnectionString } from "../../shared/domain/connected-registry/index.js";
import { createCosmosClient } from "../../shared/composition.js";
import { CosmosConnectedRegistryStore } from "../../shared/store/cosmos/connected-registry-store.js";
import { IDENTITY_CONTAINER } from "../../shared/store/cosmos/containers.js";
import { cursorPosition, decodeCursor, encodeCursor } from "../../shared/sync/cursor.js";
import { SILENCE_BEFORE_OFFLINE_MS, markSilentRegistriesOffline } from "../../shared/sync/health-sweep.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, RegistryClient, basicAuthorization } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

interface SyncCredentials {
  name: string;
  basic: string;
}

describe("the sync protocol (cloud side)", () => {
  let stack: TestStack;
  let admin: ManagementClient;
  let pusher: RegistryClient;

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false, settings: { CHANGE_FEED_GRACE_SECONDS: "4" } });
    admin = new ManagementClient(stack.registryUrl);
    const password = await admin.tokenWithPassword("pusher", { scopeMap: "_repositories_admin" });
    pusher = new AuthorizedClient(stack.registryUrl, basicAuthorization("pusher", password));
  });
  afterAll(async () => stack?.destroy());

  /** Creates a connected registry and reads its sync token out of the connection string, as the edge does. */
  async function connectedRegistry(name: string, body: Record<string, unknown> = {}): Promise<SyncCredentials> {
    const created = await admin.call("POST", "connectedRegistries", { name, mode: "ReadOnly", repositories: ["sync/in-scope"], ...body });
    expect(created.status).toBe(201);
    const settings = await admin.call("POST", `connectedRegistries/${name}/settings`, { parentProtocol: "http", generatePassword: 1 });
    const parsed = parseConnectionString(settings.body.connectionString);
    if (!parsed.ok) throw new Error(parsed.message);
    const { syncTokenName, syncTokenPassword } = parsed.settings;
    return { name, basic: `Basic ${Buffer.from(`${syncTokenName}:${syncTokenPassword}`).toString("base64")}` };
  }

  async function call(credentials: SyncCredentials, method: string, operation: string, body?: unknown, query = ""): Promise<{ status: number; body: any }> {
    const response = await fetch(`${stack.registryUrl}/sync/v1/connectedRegistries/${credentials.name}/${operation}${query}`, {
      method,
      headers: { Authorization: credentials.basic, ...(body ? { "Content-Type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: await response.json() };
  }

  const activation = (instanceId: string) => ({ instanceId, protocolVersions: ["1"], capabilities: [], acceptedMediaTypes: [], agentVersion: "0.1.0" });

  it("activates with the sync token, returning the configuration and a cursor, and shows Active", async () => {
    const edge = await connectedRegistry("syncone01", { clientTokens: [] });
    const instance = randomUUID();
    const response = await call(edge, "POST", "activate", activation(instance));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      protocolVersion: "1",
      activation: { status: "Active", instanceId: instance },
      configuration: { name: "syncone01", mode: "ReadOnly", repositories: ["sync/in-scope"], messageTtl: "P2D", schedule: "* * * * *" },
    });
    expect(typeof response.body.cursor).toBe("string");
    const shown = await admin.call("GET", "connectedRegistries/syncone01");
    expect(shown.body).toMatchObject({ activation: { status: "Active" }, connectionState: "Online" });
    expect(shown.body.lastActivityTime).not.toBeNull();
  });

  it("refuses a second instance with ALREADY_ACTIVATED, lets the first re-activate, and accepts another after deactivation", async () => {
    const edge = await connectedRegistry("synctwo01");
    const first = randomUUID();
    expect((await call(edge, "POST", "activate", activation(first))).status).toBe(200);
    const second = await call(edge, "POST", "activate", activation(randomUUID()));
    expect(second.status).toBe(409);
    expect(second.body.errors[0].code).toBe("ALREADY_ACTIVATED");
    expect((await call(edge, "POST", "activate", activation(first))).status).toBe(200);
    expect((await admin.call("POST", "connectedRegistries/synctwo01/deactivate")).status).toBe(200);
    expect((await call(edge, "POST", "activate", activation(randomUUID()))).status).toBe(200);
  });

  it("refuses an unknown protocol version, and other credentials", async () => {
    const edge = await connectedRegistry("syncthree1");
    const unsupported = await call(edge, "POST", "activate", { ...activation(randomUUID()), protocolVersions: ["9"] });
    expect(unsupported.status).toBe(400);
    expect(unsupported.body.errors[0].code).toBe("UNSUPPORTED_PROTOCOL");
    const other = await connectedRegistry("syncfour01");
    // A sync token may only use its own connected registry's gateway.
    const crossed = await call({ name: "syncthree1", basic: other.basic }, "POST", "activate", activation(randomUUID()));
    expect(crossed.status).toBe(403);
    expect(crossed.body.errors[0].code).toBe("DENIED");
    const anonymous = await fetch(`${stack.registryUrl}/sync/v1/connectedRegistries/syncthree1/configuration`);
    expect(anonymous.status).toBe(401);
  });

  it("feeds the changes to repositories in scope, in order, and nothing when nothing changed", async () => {
    const edge = await connectedRegistry("syncfive01");
    const instance = randomUUID();
    const { cursor } = (await call(edge, "POST", "activate", activation(instance))).body;
    const image = await pusher.pushImage("sync/in-scope", "v1");
    await pusher.pushImage("sync/out-of-scope", "v1");
    await pusher.fetch("/v2/sync/in-scope/manifests/v1", { method: "DELETE" });
    await new Promise((resolve) => setTimeout(resolve, 1100));

    const page = await call(edge, "GET", "feed", undefined, `?cursor=${cursor}&instance=${instance}`);
    expect(page.status).toBe(200);
    expect(page.body.changes.map((c: any) => [c.repository, c.kind, c.tag, c.state])).toEqual([
      ["sync/in-scope", "tag.set", "v1", "committed"],
      ["sync/in-scope", "tag.delete", "v1", "committed"],
    ]);
    expect(page.body.changes[0].digest).toBe(image.digest);
    expect(page.body.more).toBe(false);
    expect(typeof page.body.configurationVersion).toBe("string");

    const empty = await call(edge, "GET", "feed", undefined, `?cursor=${page.body.cursor}&instance=${instance}`);
    expect(empty.body.changes).toEqual([]);
  });

  it("pages the feed with limit without losing a change", async () => {
    const edge = await connectedRegistry("syncsix001");
    const instance = randomUUID();
    let { cursor } = (await call(edge, "POST", "activate", activation(instance))).body;
    for (let i = 0; i < 5; i++) await pusher.pushImage("sync/in-scope", `page${i}`);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const tags: string[] = [];
    for (let reads = 0; reads < 20; reads++) {
      const page = await call(edge, "GET", "feed", undefined, `?cursor=${cursor}&instance=${instance}&limit=2`);
      tags.push(...page.body.changes.map((c: any) => c.tag));
      cursor = page.body.cursor;
      if (!page.body.more) break;
    }
    expect(tags).toEqual(["page0", "page1", "page2", "page3", "page4"]);
  });

  it("tells an edge whose cursor is older than the message TTL to resync, and rejects a foreign cursor", async () => {
    const edge = await connectedRegistry("syncseven1", { messageTtl: "P1D" });
    const instance = randomUUID();
    const { cursor } = (await call(edge, "POST", "activate", activation(instance))).body;
    const position = cursorPosition(decodeCursor(cursor, "syncseven1"));
    const stale = encodeCursor("syncseven1", position, Date.now() - 25 * 3600_000);
    const expired = await call(edge, "GET", "feed", undefined, `?cursor=${stale}&instance=${instance}`);
    expect(expired.status).toBe(410);
    expect(expired.body.errors[0].code).toBe("CURSOR_EXPIRED");
    const foreign = await call(edge, "GET", "feed", undefined, `?cursor=${encodeCursor("someoneelse", position, Date.now())}&instance=${instance}`);
    expect(foreign.status).toBe(400);
    expect(foreign.body.errors[0].code).toBe("CURSOR_INVALID");
  });

  it("answers every cursor issued before a new change-log epoch (started after a restore) as expired, and reads on from a fresh one", async () => {
    const edge = await connectedRegistry("syncepoch1");
    const instance = randomUUID();
    const { cursor } = (await call(edge, "POST", "activate", activation(instance))).body;
    expect((await call(edge, "GET", "feed", undefined, `?cursor=${cursor}&instance=${instance}`)).status).toBe(200);
    const started = await admin.call("POST", "changeLog/epoch");
    expect(started.status).toBe(200);
    expect(started.body.epoch).toEqual(expect.any(String));
    const refused = await call(edge, "GET", "feed", undefined, `?cursor=${cursor}&instance=${instance}`);
    expect(refused.status).toBe(410);
    expect(refused.body.errors[0]).toMatchObject({ code: "CURSOR_EXPIRED", detail: { reason: "epoch" } });
    // Activating again hands out a cursor in the new epoch.
    const fresh = (await call(edge, "POST", "activate", activation(instance))).body.cursor;
    const page = await call(edge, "GET", "feed", undefined, `?cursor=${fresh}&instance=${instance}`);
    expect(page.status).toBe(200);
    expect(page.body.cursor).toEqual(expect.any(String));
  });

  it("stops a deactivated edge at its next call", async () => {
    const edge = await connectedRegistry("synceight1");
    const instance = randomUUID();
    const { cursor } = (await call(edge, "POST", "activate", activation(instance))).body;
    expect((await call(edge, "GET", "feed", undefined, `?cursor=${cursor}&instance=${instance}`)).status).toBe(200);
    await admin.call("POST", "connectedRegistries/synceight1/deactivate");
    const refused = await call(edge, "GET", "feed", undefined, `?cursor=${cursor}&instance=${instance}`);
    expect(refused.status).toBe(403);
    expect(refused.body.errors[0].code).toBe("NOT_ACTIVE");
    const status = await call(edge, "POST", "status", { instanceId: instance, state: "Online" });
    expect(status.body.errors[0].code).toBe("NOT_ACTIVE");
  });

  it("records heartbeats: Syncing, Unhealthy with the error, back to Online", async () => {
    const edge = await connectedRegistry("syncnine01");
    const instance = randomUUID();
    await call(edge, "POST", "activate", activation(instance));
    expect((await call(edge, "POST", "status", { instanceId: instance, state: "Syncing" })).status).toBe(200);
    expect((await admin.call("GET", "connectedRegistries/syncnine01")).body.connectionState).toBe("Syncing");
    await call(edge, "POST", "status", { instanceId: instance, state: "Online", lastError: "blob sha256:abc: connection reset" });
    const unhealthy = (await admin.call("GET", "connectedRegistries/syncnine01")).body;
    expect(unhealthy.connectionState).toBe("Unhealthy");
    expect(unhealthy.statusDetails[0].description).toContain("connection reset");
    const lastSyncTime = new Date().toISOString();
    await call(edge, "POST", "status", { instanceId: instance, state: "Online", lastSyncTime });
    const healthy = (await admin.call("GET", "connectedRegistries/syncnine01")).body;
    expect(healthy).toMatchObject({ connectionState: "Online", lastSyncTime, statusDetails: [] });
  });

  it("hands the edge its client tokens with scope maps and password verifiers, never passwords", async () => {
    const password = await admin.tokenWithPassword("shopfloor1", { repositories: [{ name: "sync/in-scope", actions: ["content/read"] }] });
    const edge = await connectedRegistry("syncten001", { clientTokens: ["shopfloor1"] });
    const response = await call(edge, "POST", "activate", activation(randomUUID()));
    const [client] = response.body.configuration.clientTokens;
    expect(client).toMatchObject({ name: "shopfloor1", status: "enabled", scopeMap: { actions: ["repositories/sync/in-scope/content/read"] } });
    expect(client.passwordVerifiers[0].hash).toMatch(/^sha256\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}$/);
    expect(JSON.stringify(response.body)).not.toContain(password);
  });

  it("hands an edge its own children with their sync tokens, not its grandchildren nor the cloud's other edges", async () => {
    const parent = await connectedRegistry("synckids01");
    // Only the parent's agent connects here: the others are records (a child's connection string names its parent edge).
    for (const [name, parentName] of [["synckids02", "synckids01"], ["synckids03", "synckids01"], ["synckids04", "synckids02"], ["synckids05", undefined]]) {
      const created = await admin.call("POST", "connectedRegistries", { name, mode: "ReadOnly", repositories: ["sync/in-scope"], ...(parentName ? { parent: parentName } : {}) });
      expect(created.status).toBe(201);
    }
    const instance = randomUUID();
    const response = await call(parent, "POST", "activate", activation(instance));
    expect(response.status).toBe(200);
    const children = response.body.configuration.children as Array<{ name: string; mode: string; syncToken: { name: string; scopeMap: { name: string } } }>;
    expect(children.map((child) => child.name)).toEqual(["synckids02", "synckids03"]);
    for (const child of children) {
      const record = (await admin.call("GET", `connectedRegistries/${child.name}`)).body;
      expect(child).toMatchObject({ mode: "ReadOnly", syncToken: { name: record.syncToken, scopeMap: { name: expect.any(String) } } });
    }
    // The configuration read later (after a change the feed announces) says the same.
    const reread = await call(parent, "GET", "configuration", undefined, `?instance=${instance}`);
    expect(reread.body.children.map((child: { name: string }) => child.name)).toEqual(["synckids02", "synckids03"]);
  });

  it("marks an active edge Offline when its heartbeats stop, and leaves a talking one alone", async () => {
    const silent = await connectedRegistry("syncquiet1");
    const talking = await connectedRegistry("synctalk01");
    await call(silent, "POST", "activate", activation(randomUUID()));
    const talkingInstance = randomUUID();
    await call(talking, "POST", "activate", activation(talkingInstance));
    const store = new CosmosConnectedRegistryStore(
      createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE).container(IDENTITY_CONTAINER.id),
      stack.config.REGISTRY_NAME,
    );
    const later = Date.now() + SILENCE_BEFORE_OFFLINE_MS + 1000;
    const record = await store.get("synctalk01");
    await store.replace({ ...record!, lastActivityTime: new Date(later - 1000).toISOString() });
    const messages: string[] = [];
    const marked = await markSilentRegistriesOffline(store, later, (m) => messages.push(m));
    expect(marked).toContain("syncquiet1");
    expect(marked).not.toContain("synctalk01");
    expect((await admin.call("GET", "connectedRegistries/syncquiet1")).body.connectionState).toBe("Offline");
    expect(messages[0]).toContain("syncquiet1");
    // Running again changes nothing more.
    expect(await markSilentRegistriesOffline(store, later, () => {})).not.toContain("syncquiet1");
  });

  it("records an upstream push made with a ReadWrite edge's sync token as coming from that edge", async () => {
    const created = await admin.call("POST", "connectedRegistries", { name: "syncwrite1", mode: "ReadWrite", repositories: ["sync/in-scope"] });
    expect(created.status).toBe(201);
    const settings = await admin.call("POST", "connectedRegistries/syncwrite1/settings", { parentProtocol: "http", generatePassword: 1 });
    const parsed = parseConnectionString(settings.body.connectionString);
    if (!parsed.ok) throw new Error(parsed.message);
    const edge = { name: "syncwrite1", basic: `Basic ${Buffer.from(`${parsed.settings.syncTokenName}:${parsed.settings.syncTokenPassword}`).toString("base64")}` };
    const instance = randomUUID();
    const { cursor } = (await call(edge, "POST", "activate", activation(instance))).body;

    const upstream = new AuthorizedClient(stack.registryUrl, edge.basic);
    await upstream.pushImage("sync/in-scope", "from-edge");
    await pusher.pushImage("sync/in-scope", "from-cloud");
    await new Promise((resolve) => setTimeout(resolve, 1100));

    const page = await call(edge, "GET", "feed", undefined, `?cursor=${cursor}&instance=${instance}`);
    const sources = Object.fromEntries(page.body.changes.map((c: any) => [c.tag, c.source ?? null]));
    expect(sources).toMatchObject({ "from-edge": "syncwrite1", "from-cloud": null });
  });

  it("lets a ReadOnly edge's sync token pull its repositories through /v2/, and nothing more", async () => {
    const edge = await connectedRegistry("syncpull01");
    const image = await pusher.pushImage("sync/in-scope", "content");
    await pusher.pushImage("sync/out-of-scope", "content");
    const asEdge = (path: string, init: RequestInit = {}) => fetch(`${stack.registryUrl}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: edge.basic } });
    const manifest = await asEdge("/v2/sync/in-scope/manifests/content", { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get("docker-content-digest")).toBe(image.digest);
    expect((await asEdge(`/v2/sync/in-scope/blobs/${image.layerDigest}`, { redirect: "manual" })).status).toBe(307);
    expect((await asEdge("/v2/sync/out-of-scope/manifests/content")).status).toBe(403);
    expect((await asEdge("/v2/sync/in-scope/blobs/uploads/", { method: "POST" })).status).toBe(403);
  });
});
