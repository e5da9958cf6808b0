import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManagementClient } from "../support/management-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const READ_ONLY = ["content/read", "metadata/read"];
const READ_WRITE = ["content/read", "metadata/read", "content/write", "content/delete", "metadata/write"];
const GATEWAY = ["config/read", "config/write", "message/read", "message/write"];

const repositoryActions = (repository: string, verbs: string[]) => verbs.map((verb) => `repositories/${repository}/${verb}`);
const gatewayActions = (name: string) => GATEWAY.map((verb) => `gateway/${name}/${verb}`);

describe("connected registries in the management API", () => {
  let stack: TestStack;
  let admin: ManagementClient;

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    admin = new ManagementClient(stack.registryUrl);
  });
  afterAll(async () => stack?.destroy());

  async function create(body: Record<string, unknown>): Promise<any> {
    const response = await admin.call("POST", "connectedRegistries", body);
    if (response.status !== 201) throw new Error(`create answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body;
  }

  async function syncScopeMapActions(name: string): Promise<string[]> {
    const token = await admin.call("GET", `tokens/${name}-sync-token`);
    expect(token.status).toBe(200);
    const scopeMap = await admin.call("GET", `scopeMaps/${token.body.scopeMap}`);
    expect(scopeMap.status).toBe(200);
    return scopeMap.body.actions as string[];
  }

  describe("create and show", () => {
    it("creates a ReadOnly registry with a sync token whose scope map reads its repositories and uses its gateway", async () => {
      const created = await create({ name: "readonly01", mode: "ReadOnly", repositories: ["hello-world", "samples/app"] });
      expect(created).toMatchObject({
        name: "readonly01",
        mode: "ReadOnly",
        parent: null,
        repositories: ["hello-world", "samples/app"],
        syncToken: "readonly01-sync-token",
        clientTokens: [],
        schedule: "* * * * *",
        syncWindow: null,
        messageTtl: "P2D",
        logging: "Information",
        notifications: [],
        connectionState: "Offline",
        activation: { status: "Inactive" },
        lastActivityTime: null,
        lastSyncTime: null,
        version: null,
        statusDetails: [],
      });
      expect((await admin.call("GET", "tokens/readonly01-sync-token")).body.scopeMap).toBe("readonly01-sync-scope-map");
      expect((await syncScopeMapActions("readonly01")).sort()).toEqual(
        [...repositoryActions("hello-world", READ_ONLY), ...repositoryActions("samples/app", READ_ONLY), ...gatewayActions("readonly01")].sort(),
      );
      expect((await admin.call("GET", "connectedRegistries/readonly01")).body).toEqual(created);
    });

    it("gives a ReadWrite registry (the default mode) write, delete and metadata-write actions as well", async () => {
      const created = await create({ name: "readwrite01", repositories: ["hello-world"] });
      expect(created.mode).toBe("ReadWrite");
      expect((await syncScopeMapActions("readwrite01")).sort()).toEqual([...repositoryActions("hello-world", READ_WRITE), ...gatewayActions("readwrite01")].sort());
    });

    it("refuses both repositories and syncToken, and neither, saying so, and creates nothing", async () => {
      const both = await admin.call("POST", "connectedRegistries", { name: "bothgiven1", repositories: ["a1234"], syncToken: "readwrite01-sync-token" });
      expect(both.status).toBe(400);
      expect(both.body.error.message).toContain("not both and not neither");
      const neither = await admin.call("POST", "connectedRegistries", { name: "neither01" });
      expect(neither.status).toBe(400);
      expect(neither.body.error.message).toContain("either repositories");
      expect((await admin.call("GET", "connectedRegistries/bothgiven1")).status).toBe(404);
      expect((await admin.call("GET", "tokens/bothgiven1-sync-token")).status).toBe(404);
    });

    it("creates a registry on an existing sync token, taking its repositories and adding the gateway actions", async () => {
      await admin.call("POST", "scopeMaps", { name: "own-sync-map", actions: repositoryActions("hello-world", READ_ONLY) });
      expect((await admin.call("POST", "tokens", { name: "own-sync-token", scopeMap: "own-sync-map" })).status).toBe(201);
      const created = await create({ name: "ownsync01", mode: "ReadOnly", syncToken: "own-sync-token" });
      expect(created).toMatchObject({ syncToken: "own-sync-token", repositories: ["hello-world"] });
      expect((await admin.call("GET", "scopeMaps/own-sync-map")).body.actions).toEqual(expect.arrayContaining(gatewayActions("ownsync01")));
      const unknown = await admin.call("POST", "connectedRegistries", { name: "ghostsync1", syncToken: "no-such-token" });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.message).toContain("no-such-token");
    });

    it.each([
      ["abcd", "too short"],
      ["with-dash1", "a dash"],
      ["a".repeat(51), "too long"],
    ])("refuses the name %s (%s)", async (name) => {
      const response = await admin.call("POST", "connectedRegistries", { name, repositories: ["hello-world"] });
      expect(response.status).toBe(400);
      expect(response.body.error.message).toContain("5-50 letters and digits");
    });

    it("refuses a second connected registry of the same name", async () => {
      await create({ name: "twiceover1", repositories: ["hello-world"] });
      const again = await admin.call("POST", "connectedRegistries", { name: "twiceover1", repositories: ["hello-world"] });
      expect(again.status).toBe(409);
      expect(again.body.error.message).toContain("already exists");
    });

    it("validates sync settings on create: a window needs a non-continuous schedule, and TTLs stay within 1 to 90 days", async () => {
      const windowed = await create({ name: "windowed01", repositories: ["hello-world"], schedule: "0 */6 * * *", syncWindow: "PT2H", messageTtl: "P7D" });
      expect(windowed).toMatchObject({ schedule: "0 */6 * * *", syncWindow: "PT2H", messageTtl: "P7D" });
      const continuousWithWindow = await admin.call("POST", "connectedRegistries", { name: "badwindow1", repositories: ["hello-world"], syncWindow: "PT2H" });
      expect(continuousWithWindow.status).toBe(400);
      expect(continuousWithWindow.body.error.message).toContain("syncWindow");
      const longTtl = await admin.call("POST", "connectedRegistries", { name: "badttl001", repositories: ["hello-world"], messageTtl: "P100D" });
      expect(longTtl.status).toBe(400);
      expect(longTtl.body.error.message).toContain("90 days");
      expect((await admin.call("GET", "tokens/badttl001-sync-token")).status).toBe(404);
    });
  });

  describe("the hierarchy", () => {
    beforeAll(async () => {
      await create({ name: "rwparent1", mode: "ReadWrite", repositories: ["hello-world"] });
      await create({ name: "roparent1", mode: "ReadOnly", repositories: ["hello-world"] });
    });

    it.each([
      ["ReadOnly", "rwparent1", "rounderrw1"],
      ["ReadWrite", "rwparent1", "rwunderrw1"],
      ["ReadOnly", "roparent1", "rounderro1"],
    ])("allows a %s child under %s", async (mode, parent, name) => {
      const created = await create({ name, mode, parent, repositories: ["hello-world"] });
      expect(created).toMatchObject({ name, mode, parent });
    });

    it("refuses a ReadWrite child under a ReadOnly parent, naming both modes, and creates nothing", async () => {
      const response = await admin.call("POST", "connectedRegistries", { name: "rwunderro1", mode: "ReadWrite", parent: "roparent1", repositories: ["hello-world"] });
      expect(response.status).toBe(400);
      expect(response.body.error.message).toContain("ReadWrite");
      expect(response.body.error.message).toContain("ReadOnly");
      expect((await admin.call("GET", "connectedRegistries/rwunderro1")).status).toBe(404);
      expect((await admin.call("GET", "tokens/rwunderro1-sync-token")).status).toBe(404);
    });

    it("refuses an unknown parent, naming it", async () => {
      const response = await admin.call("POST", "connectedRegistries", { name: "orphan001", mode: "ReadOnly", parent: "nosuchparent", repositories: ["hello-world"] });
      expect(response.status).toBe(400);
      expect(response.body.error.message).toContain('"nosuchparent" does not exist');
    });
  });

  describe("ancestors' sync scope maps", () => {
    beforeAll(async () => {
      await create({ name: "treeroot1", mode: "ReadWrite", repositories: ["base"] });
      await create({ name: "treemid01", mode: "ReadOnly", parent: "treeroot1", repositories: ["app", "base"] });
      await create({ name: "treeleaf1", mode: "ReadOnly", parent: "treemid01", repositories: ["tool"] });
    });

    it("gives every ancestor the repository and gateway actions of each descendant", async () => {
      const root = await syncScopeMapActions("treeroot1");
      const mid = await syncScopeMapActions("treemid01");
      expect(root).toEqual(
        expect.arrayContaining([
          ...repositoryActions("app", READ_ONLY),
          ...gatewayActions("treemid01"),
          ...repositoryActions("tool", READ_ONLY),
          ...gatewayActions("treeleaf1"),
        ]),
      );
      expect(mid).toEqual(expect.arrayContaining([...repositoryActions("tool", READ_ONLY), ...gatewayActions("treeleaf1")]));
    });

    it("refuses to delete a registry that has children, naming them", async () => {
      const response = await admin.call("DELETE", "connectedRegistries/treeroot1");
      expect(response.status).toBe(409);
      expect(response.body.error.message).toContain("treemid01");
      expect((await admin.call("GET", "connectedRegistries/treeroot1")).status).toBe(200);
    });

    it("adds repositories to a registry and its ancestors, and removes them from it and its descendants", async () => {
      const added = await admin.call("POST", "connectedRegistries/treemid01/permissions", { addRepositories: ["extra"] });
      expect(added.status).toBe(200);
      expect(added.body.repositories).toContain("extra");
      expect(await syncScopeMapActions("treemid01")).toEqual(expect.arrayContaining(repositoryActions("extra", READ_ONLY)));
      expect(await syncScopeMapActions("treeroot1")).toEqual(expect.arrayContaining(repositoryActions("extra", READ_WRITE)));
      expect(await syncScopeMapActions("treeleaf1")).not.toContain("repositories/extra/content/read");

      await admin.call("POST", "connectedRegistries/treeleaf1/permissions", { addRepositories: ["extra"] });
      const removed = await admin.call("POST", "connectedRegistries/treemid01/permissions", { removeRepositories: ["extra"] });
      expect(removed.status).toBe(200);
      expect(removed.body.repositories).not.toContain("extra");
      expect((await admin.call("GET", "connectedRegistries/treeleaf1")).body.repositories).not.toContain("extra");
      expect(await syncScopeMapActions("treeleaf1")).not.toContain("repositories/extra/content/read");
      expect(await syncScopeMapActions("treemid01")).not.toContain("repositories/extra/content/read");
      // The ancestor keeps it: removal goes down the tree, not up.
      expect(await syncScopeMapActions("treeroot1")).toContain("repositories/extra/content/read");
    });

    it("on delete with cleanup, removes the sync token and scope map and strips from ancestors only what nobody left needs", async () => {
      expect((await admin.call("DELETE", "connectedRegistries/treeleaf1?cleanup=true")).status).toBe(204);
      expect((await admin.call("GET", "connectedRegistries/treeleaf1")).status).toBe(404);
      expect((await admin.call("GET", "tokens/treeleaf1-sync-token")).status).toBe(404);
      expect((await admin.call("GET", "scopeMaps/treeleaf1-sync-scope-map")).status).toBe(404);
      for (const ancestor of ["treemid01", "treeroot1"]) {
        const actions = await syncScopeMapActions(ancestor);
        expect(actions).not.toContain("repositories/tool/content/read");
        expect(actions).not.toContain("gateway/treeleaf1/config/read");
      }

      expect((await admin.call("DELETE", "connectedRegistries/treemid01?cleanup=true")).status).toBe(204);
      const root = await syncScopeMapActions("treeroot1");
      expect(root).not.toContain("repositories/app/content/read");
      expect(root).not.toContain("gateway/treemid01/message/read");
      // "base" was the child's and is the root's own: the root keeps it.
      expect(root).toEqual(expect.arrayContaining([...repositoryActions("base", READ_WRITE), ...gatewayActions("treeroot1")]));
    });

    it("on delete without cleanup, keeps the sync token and its scope map", async () => {
      await create({ name: "keepstoken", mode: "ReadOnly", parent: "treeroot1", repositories: ["kept"] });
      expect((await admin.call("DELETE", "connectedRegistries/keepstoken")).status).toBe(204);
      expect((await admin.call("GET", "connectedRegistries/keepstoken")).status).toBe(404);
      expect((await admin.call("GET", "tokens/keepstoken-sync-token")).status).toBe(200);
      expect((await admin.call("DELETE", "connectedRegistries/keepstoken")).status).toBe(404);
    });
  });

  describe("client tokens", () => {
    it("holds exactly 20 client tokens when 30 updates race, each adding a different token, and refuses the rest naming the limit", async () => {
      const names = Array.from({ length: 30 }, (_, i) => `race-client-${String(i).padStart(2, "0")}`);
      for (const name of names) expect((await admin.call("POST", "tokens", { name, scopeMap: "_repositories_pull" })).status).toBe(201);
      await create({ name: "raceedge01", repositories: ["hello-world"] });

      const responses = await Promise.all(names.map((name) => admin.call("PATCH", "connectedRegistries/raceedge01", { addClientTokens: [name] })));
      const accepted = names.filter((_, i) => responses[i]!.status === 200);
      const refused = responses.filter((response) => response.status !== 200);
      expect(accepted).toHaveLength(20);
      expect(refused).toHaveLength(10);
      for (const response of refused) {
        expect(response.status).toBe(409);
        expect(response.body.error.message).toContain("at most 20 client tokens");
      }
      const shown = await admin.call("GET", "connectedRegistries/raceedge01");
      expect([...shown.body.clientTokens].sort()).toEqual([...accepted].sort());
      const listed = await admin.call("GET", "connectedRegistries/raceedge01/clientTokens");
      expect(listed.status).toBe(200);
      expect(listed.body.value.map((token: { name: string }) => token.name).sort()).toEqual([...accepted].sort());
    });

    it("refuses a client token that does not exist, the same token added and removed, and more than 20 on create", async () => {
      await create({ name: "clientedge1", repositories: ["hello-world"] });
      const missing = await admin.call("PATCH", "connectedRegistries/clientedge1", { addClientTokens: ["no-such-client"] });
      expect(missing.status).toBe(400);
      expect(missing.body.error.message).toContain("no-such-client");
      const both = await admin.call("PATCH", "connectedRegistries/clientedge1", { addClientTokens: ["race-client-00"], removeClientTokens: ["race-client-00"] });
      expect(both.status).toBe(400);
      expect(both.body.error.message).toContain("both added and removed");
      const many = Array.from({ length: 21 }, (_, i) => `race-client-${String(i).padStart(2, "0")}`);
      const tooMany = await admin.call("POST", "connectedRegistries", { name: "clientedge2", repositories: ["hello-world"], clientTokens: many });
      expect(tooMany.status).toBe(409);
      expect(tooMany.body.error.message).toContain("at most 20 client tokens");
    });
  });

  describe("update", () => {
    it("changes sync settings, logging and notifications, and keeps the rest", async () => {
      await create({ name: "updateme01", repositories: ["hello-world"] });
      const noWindow = await admin.call("PATCH", "connectedRegistries/updateme01", { schedule: "0 */6 * * *" });
      expect(noWindow.status).toBe(400);
      expect(noWindow.body.error.message).toContain("syncWindow");
      const updated = await admin.call("PATCH", "connectedRegistries/updateme01", {
        schedule: "0 */6 * * *",
        syncWindow: "PT3H",
        messageTtl: "P10D",
        logging: "Debug",
        notifications: ["hello-world:latest:push", "hello-world:*:delete"],
      });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({
        schedule: "0 */6 * * *",
        syncWindow: "PT3H",
        messageTtl: "P10D",
        logging: "Debug",
        notifications: ["hello-world:latest:push", "hello-world:*:delete"],
        repositories: ["hello-world"],
      });
      // As az (and ACR's sync tutorial): a continuous schedule drops the window, without syncWindow: null.
      const continuous = await admin.call("PATCH", "connectedRegistries/updateme01", { schedule: "* * * * *" });
      expect(continuous.status, JSON.stringify(continuous.body)).toBe(200);
      expect(continuous.body).toMatchObject({ schedule: "* * * * *", syncWindow: null, logging: "Debug" });
      expect((await admin.call("PATCH", "connectedRegistries/updateme01", { schedule: "0 */6 * * *", syncWindow: "PT3H" })).status).toBe(200);
      const back = await admin.call("PATCH", "connectedRegistries/updateme01", { schedule: "* * * * *", syncWindow: null });
      expect(back.body).toMatchObject({ schedule: "* * * * *", syncWindow: null, logging: "Debug" });
      const stillRefused = await admin.call("PATCH", "connectedRegistries/updateme01", { schedule: "* * * * *", syncWindow: "PT1H" });
      expect(stillRefused.status).toBe(400);
      const badNotification = await admin.call("PATCH", "connectedRegistries/updateme01", { notifications: ["hello-world"] });
      expect(badNotification.status).toBe(400);
      expect(badNotification.body.error.message).toContain("hello-world:latest:push");
      expect((await admin.call("PATCH", "connectedRegistries/nosuchedge", { logging: "Error" })).status).toBe(404);
    });

    it("deactivates: the activation status is Inactive, and an unknown registry is 404", async () => {
      await create({ name: "deactive01", repositories: ["hello-world"] });
      const response = await admin.call("POST", "connectedRegistries/deactive01/deactivate");
      expect(response.status).toBe(200);
      expect(response.body.activation).toEqual({ status: "Inactive" });
      expect((await admin.call("GET", "connectedRegistries/deactive01")).body.activation.status).toBe("Inactive");
      expect((await admin.call("POST", "connectedRegistries/nosuchedge/deactivate")).status).toBe(404);
    });
  });

  describe("list", () => {
    beforeAll(async () => {
      await create({ name: "listroot01", mode: "ReadWrite", repositories: ["hello-world"] });
      await create({ name: "listchild1", mode: "ReadOnly", parent: "listroot01", repositories: ["hello-world"] });
      await create({ name: "listchild2", mode: "ReadWrite", parent: "listroot01", repositories: ["hello-world"] });
    });

    const names = async (query: string): Promise<string[]> => {
      const response = await admin.call("GET", `connectedRegistries${query}`);
      expect(response.status).toBe(200);
      return response.body.value.map((registry: { name: string }) => registry.name);
    };

    it("filters by parent, mode and connection state", async () => {
      expect((await names("?parent=listroot01")).sort()).toEqual(["listchild1", "listchild2"]);
      expect(await names("?parent=listroot01&mode=ReadOnly")).toEqual(["listchild1"]);
      const readOnly = await names("?mode=ReadOnly");
      expect(readOnly).toContain("listchild1");
      expect(readOnly).not.toContain("listroot01");
      expect(await names("?connectionState=Online")).toEqual([]);
      expect(await names("?connectionState=Offline")).toEqual(expect.arrayContaining(["listroot01", "listchild1", "listchild2"]));
      expect(await names("")).toEqual(expect.arrayContaining(["listroot01", "listchild1", "listchild2"]));
    });

    it("refuses an unknown mode filter", async () => {
      const response = await admin.call("GET", "connectedRegistries?mode=Sideways");
      expect(response.status).toBe(400);
      expect(response.body.error.message).toContain("mode");
    });
  });

  describe("get-settings", () => {
    beforeAll(async () => {
      await create({ name: "settings01", mode: "ReadOnly", repositories: ["hello-world"] });
    });

    const fields = (connectionString: string): Record<string, string> =>
      Object.fromEntries(connectionString.split(";").map((field) => [field.slice(0, field.indexOf("=")), field.slice(field.indexOf("=") + 1)]));

    it("without generatePassword, answers the connection string with a placeholder that says how to get a password", async () => {
      const response = await admin.call("POST", "connectedRegistries/settings01/settings", { parentProtocol: "http" });
      expect(response.status).toBe(200);
      const settings = fields(response.body.connectionString);
      expect(settings).toMatchObject({
        ConnectedRegistryName: "settings01",
        SyncTokenName: "settings01-sync-token",
        ParentGatewayEndpoint: stack.registryHost,
        ParentEndpointProtocol: "http",
      });
      expect(settings.SyncTokenPassword).toContain("generate-password");
      expect((await admin.call("GET", "tokens/settings01-sync-token")).body.credentials.passwords).toEqual([]);
    });

    it("with generatePassword, embeds a new password of the sync token that logs in at the token server", async () => {
      const response = await admin.call("POST", "connectedRegistries/settings01/settings", { parentProtocol: "https", generatePassword: 2 });
      expect(response.status).toBe(200);
      const settings = fields(response.body.connectionString);
      expect(settings.ParentEndpointProtocol).toBe("https");
      const password = settings.SyncTokenPassword!;
      expect(password).not.toContain("generate-password");
      expect((await admin.call("GET", "tokens/settings01-sync-token")).body.credentials.passwords.map((p: { name: string }) => p.name)).toEqual(["password2"]);

      const login = (secret: string) => {
        const params = new URLSearchParams({ service: stack.registryHost, scope: "repository:hello-world:pull" });
        return fetch(`${stack.registryUrl}/oauth2/token?${params}`, {
          headers: { Authorization: `Basic ${Buffer.from(`settings01-sync-token:${secret}`).toString("base64")}` },
        });
      };
      const accepted = await login(password);
      expect(accepted.status).toBe(200);
      const { token } = (await accepted.json()) as { token: string };
      const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8"));
      expect(claims.access).toEqual([{ type: "repository", name: "hello-world", actions: ["pull"] }]);
      expect((await login(`${password}x`)).status).toBe(401);
    });

    it("for a child of an edge, names the parent edge's reported address, and refuses until there is one", async () => {
      await create({ name: "settingsparent", mode: "ReadOnly", repositories: ["hello-world"] });
      await create({ name: "settingschild", mode: "ReadOnly", parent: "settingsparent", repositories: ["hello-world"] });
      const early = await admin.call("POST", "connectedRegistries/settingschild/settings", { generatePassword: 1 });
      expect(early.status).toBe(409);
      expect(early.body.error.message).toContain("--login-server");
      expect((await admin.call("GET", "tokens/settingschild-sync-token")).body.credentials.passwords).toEqual([]);

      // The parent's agent activates and reports where it listens (with its own sync token).
      const parentSettings = fields((await admin.call("POST", "connectedRegistries/settingsparent/settings", { parentProtocol: "http", generatePassword: 1 })).body.connectionString);
      const activated = await fetch(`${stack.registryUrl}/sync/v1/connectedRegistries/settingsparent/activate`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Basic ${Buffer.from(`settingsparent-sync-token:${parentSettings.SyncTokenPassword}`).toString("base64")}` },
        body: JSON.stringify({ instanceId: "instance-0001", protocolVersions: ["1"], loginServer: { host: "edge.factory.example:8443", tls: true } }),
      });
      expect(activated.status).toBe(200);
      expect((await admin.call("GET", "connectedRegistries/settingsparent")).body.loginServer).toEqual({ host: "edge.factory.example:8443", tls: true });
      const settings = fields((await admin.call("POST", "connectedRegistries/settingschild/settings", {})).body.connectionString);
      expect(settings).toMatchObject({ ParentGatewayEndpoint: "edge.factory.example:8443", ParentEndpointProtocol: "https" });
    });

    it("answers ACR's keys next to connectionString, so scripts written for ACR's get-settings carry over", async () => {
      await create({ name: "settingsacr", mode: "ReadOnly", repositories: ["hello-world"] });
      const generated = await admin.call("POST", "connectedRegistries/settingsacr/settings", { parentProtocol: "http", generatePassword: 1 });
      expect(generated.status).toBe(200);
      const password = fields(generated.body.connectionString).SyncTokenPassword;
      expect(generated.body).toEqual({
        connectionString: generated.body.connectionString,
        ACR_REGISTRY_CONNECTION_STRING: generated.body.connectionString,
        // Where clients reach the edge: unknown until its agent reports --login-server.
        ACR_REGISTRY_LOGIN_SERVER: null,
        SYNC_TOKEN_USER: "settingsacr-sync-token",
        SYNC_TOKEN_PASSWORD: password,
      });
      // The password and user log in as the sync token.
      const login = await fetch(`${stack.registryUrl}/oauth2/token?${new URLSearchParams({ service: stack.registryHost, scope: "repository:hello-world:pull" })}`, {
        headers: { Authorization: `Basic ${Buffer.from(`${generated.body.SYNC_TOKEN_USER}:${generated.body.SYNC_TOKEN_PASSWORD}`).toString("base64")}` },
      });
      expect(login.status).toBe(200);

      // Once the agent has reported where it listens, the login server is that; no new password: null, not a placeholder.
      const activated = await fetch(`${stack.registryUrl}/sync/v1/connectedRegistries/settingsacr/activate`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Basic ${Buffer.from(`settingsacr-sync-token:${password}`).toString("base64")}` },
        body: JSON.stringify({ instanceId: "instance-0002", protocolVersions: ["1"], loginServer: { host: "edge2.factory.example:8080", tls: false } }),
      });
      expect(activated.status).toBe(200);
      const later = await admin.call("POST", "connectedRegistries/settingsacr/settings", { parentProtocol: "http" });
      expect(later.body).toMatchObject({ ACR_REGISTRY_LOGIN_SERVER: "edge2.factory.example:8080", SYNC_TOKEN_USER: "settingsacr-sync-token", SYNC_TOKEN_PASSWORD: null });
      expect(later.body.ACR_REGISTRY_CONNECTION_STRING).toBe(later.body.connectionString);
    });

    it("refuses a password number other than 1 or 2, and an unknown registry", async () => {
      expect((await admin.call("POST", "connectedRegistries/settings01/settings", { generatePassword: 3 })).status).toBe(400);
      expect((await admin.call("POST", "connectedRegistries/nosuchedge/settings", {})).status).toBe(404);
    });
  });

  describe("tokens in use", () => {
    it("refuses to delete a token a connected registry uses as sync or client token, naming the registry", async () => {
      expect((await admin.call("POST", "tokens", { name: "hooked-client", scopeMap: "_repositories_pull" })).status).toBe(201);
      await create({ name: "hookedge01", repositories: ["hello-world"], clientTokens: ["hooked-client"] });
      for (const token of ["hookedge01-sync-token", "hooked-client"]) {
        const response = await admin.call("DELETE", `tokens/${token}`);
        expect(response.status).toBe(409);
        expect(response.body.error.message).toContain("hookedge01");
        expect((await admin.call("GET", `tokens/${token}`)).status).toBe(200);
      }
      expect((await admin.call("PATCH", "connectedRegistries/hookedge01", { removeClientTokens: ["hooked-client"] })).status).toBe(200);
      expect((await admin.call("DELETE", "tokens/hooked-client")).status).toBe(204);
    });
  });
});
