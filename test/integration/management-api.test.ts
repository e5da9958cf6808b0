import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManagementClient } from "../support/management-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

describe("the management API", () => {
  let stack: TestStack;
  let admin: ManagementClient;

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    admin = new ManagementClient(stack.registryUrl);
  });
  afterAll(async () => stack?.destroy());

  describe("authentication", () => {
    it("refuses requests without the admin key, with a wrong key, or with a Basic header", async () => {
      for (const headers of [{}, { Authorization: "Bearer wrong-key" }, { Authorization: `Basic ${Buffer.from("admin:x").toString("base64")}` }]) {
        const response = await fetch(`${stack.registryUrl}/management/scopeMaps`, { headers });
        expect(response.status).toBe(401);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe("Unauthorized");
      }
    });

    it("refuses an Entra ID token when Entra is not configured", async () => {
      const fake = ["e30", "e30", "c2ln"].join(".");
      const response = await new ManagementClient(stack.registryUrl, fake).call("GET", "tokens");
      expect(response.status).toBe(401);
      expect(response.body.error.message).toContain("not configured");
    });
  });

  describe("scope maps", () => {
    it("creates, shows, updates and deletes a scope map", async () => {
      const created = await admin.call("POST", "scopeMaps", { name: "readers", description: "read hello-world", actions: ["repositories/hello-world/content/read"] });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name: "readers", type: "UserDefined", actions: ["repositories/hello-world/content/read"] });

      const updated = await admin.call("PATCH", "scopeMaps/readers", {
        addActions: ["repositories/samples/*/content/read", "repositories/hello-world/metadata/read"],
        removeActions: ["repositories/hello-world/content/read"],
      });
      expect(updated.status).toBe(200);
      expect(updated.body.actions.sort()).toEqual(["repositories/hello-world/metadata/read", "repositories/samples/*/content/read"]);
      expect((await admin.call("GET", "scopeMaps/readers")).body.actions).toHaveLength(2);

      expect((await admin.call("DELETE", "scopeMaps/readers")).status).toBe(204);
      expect((await admin.call("GET", "scopeMaps/readers")).status).toBe(404);
    });

    it("lists the system scope maps from the start, and refuses to change or delete them", async () => {
      const list = await admin.call("GET", "scopeMaps");
      const names = list.body.value.map((s: { name: string }) => s.name);
      expect(names).toEqual(expect.arrayContaining(["_repositories_pull", "_repositories_push", "_repositories_admin"]));
      expect((await admin.call("PATCH", "scopeMaps/_repositories_pull", { addActions: ["repositories/x/content/write"] })).status).toBe(400);
      expect((await admin.call("DELETE", "scopeMaps/_repositories_admin")).status).toBe(400);
      expect((await admin.call("GET", "scopeMaps/_repositories_push")).body.type).toBe("SystemDefined");
    });

    it("names the invalid action it refuses, and creates nothing", async () => {
      const response = await admin.call("POST", "scopeMaps", { name: "typo-map", actions: ["repositories/hello-world/content/raed"] });
      expect(response.status).toBe(400);
      expect(response.body.error.message).toContain('Invalid action "content/raed"');
      expect((await admin.call("GET", "scopeMaps/typo-map")).status).toBe(404);
    });

    it.each([
      ["abcd", "too short"],
      ["a".repeat(51), "too long"],
      ["has space", "a space"],
      ["dots.not.ok", "dots"],
    ])("refuses the name %s (%s)", async (name) => {
      const response = await admin.call("POST", "scopeMaps", { name, actions: ["repositories/x/content/read"] });
      expect(response.status).toBe(400);
      expect(response.body.error.message).toContain("5-50 letters, digits, - and _");
    });

    it("refuses a wildcard that is not at the end, and a duplicate name", async () => {
      expect((await admin.call("POST", "scopeMaps", { name: "mid-wild", actions: ["repositories/a/*/b/content/read"] })).status).toBe(400);
      expect((await admin.call("POST", "scopeMaps", { name: "twice-map", actions: ["repositories/a/content/read"] })).status).toBe(201);
      const again = await admin.call("POST", "scopeMaps", { name: "twice-map", actions: ["repositories/a/content/read"] });
      expect(again.status).toBe(409);
      expect(again.body.error.message).toContain("already exists");
    });

    it("refuses to delete a scope map a token uses", async () => {
      await admin.call("POST", "scopeMaps", { name: "in-use-map", actions: ["repositories/a/content/read"] });
      await admin.call("POST", "tokens", { name: "in-use-token", scopeMap: "in-use-map" });
      const response = await admin.call("DELETE", "scopeMaps/in-use-map");
      expect(response.status).toBe(409);
      expect(response.body.error.message).toContain("in-use-token");
    });

    it("refuses more than 500 actions in one scope map", async () => {
      const actions = Array.from({ length: 501 }, (_, i) => `repositories/repo${i}/content/read`);
      const response = await admin.call("POST", "scopeMaps", { name: "too-many", actions });
      expect(response.status).toBe(409);
      expect(response.body.error.message).toContain("500");
    });
  });

  describe("tokens", () => {
    it("creates a token on repositories, with its own scope map", async () => {
      const created = await admin.call("POST", "tokens", { name: "repo-token", repositories: [{ name: "hello-world", actions: ["content/read", "content/write"] }] });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name: "repo-token", scopeMap: "repo-token-scope-map", status: "enabled", credentials: { passwords: [] } });
      const scopeMap = await admin.call("GET", "scopeMaps/repo-token-scope-map");
      expect(scopeMap.body.actions).toEqual(["repositories/hello-world/content/read", "repositories/hello-world/content/write"]);
    });

    it("refuses a token with both or neither of scopeMap and repositories, or an unknown scope map", async () => {
      expect((await admin.call("POST", "tokens", { name: "neither-token" })).status).toBe(400);
      expect((await admin.call("POST", "tokens", { name: "both-token", scopeMap: "_repositories_pull", repositories: [{ name: "a", actions: ["content/read"] }] })).status).toBe(400);
      const unknown = await admin.call("POST", "tokens", { name: "ghost-token", scopeMap: "no-such-map" });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.message).toContain("no-such-map");
      expect((await admin.call("GET", "tokens/ghost-token")).status).toBe(404);
    });

    it("generates passwords that are shown once and stored only as hashes", async () => {
      await admin.call("POST", "tokens", { name: "secret-token", scopeMap: "_repositories_pull" });
      const generated = await admin.call("POST", "tokens/secret-token/credentials/generate", {});
      expect(generated.status).toBe(200);
      expect(generated.body.passwords.map((p: { name: string }) => p.name)).toEqual(["password1", "password2"]);
      const [first, second] = generated.body.passwords.map((p: { value: string }) => p.value);
      expect(first).not.toEqual(second);
      expect(first.length).toBeGreaterThanOrEqual(40);

      const shown = await admin.call("GET", "tokens/secret-token");
      expect(JSON.stringify(shown.body)).not.toContain(first);
      expect(shown.body.credentials.passwords.map((p: { name: string }) => p.name)).toEqual(["password1", "password2"]);
      const listed = await admin.call("GET", "tokens");
      expect(JSON.stringify(listed.body)).not.toContain(first);
      // Nor anywhere in what the Cosmos DB server stores (its journal, acknowledged writes
      // being on disk already), which only its owner may read: it holds the hashes.
      const { readdir, readFile, stat } = await import("node:fs/promises");
      const folder = `${stack.dataDir}/cosmos`;
      expect((await stat(folder)).mode & 0o777).toBe(0o700);
      let stored = "";
      for (const file of await readdir(folder)) {
        expect({ file, mode: (await stat(`${folder}/${file}`)).mode & 0o777 }).toEqual({ file, mode: 0o600 });
        stored += await readFile(`${folder}/${file}`, "utf8");
      }
      expect(stored).not.toContain(first);
      expect(stored).not.toContain(second);
      // Generated passwords are stored as a salted SHA-256 (shared/auth/passwords.ts says why).
      expect(stored).toContain("sha256$");
    });

    it("sets an expiry on a password, and refuses one in the past", async () => {
      await admin.call("POST", "tokens", { name: "expiring-token", scopeMap: "_repositories_pull" });
      const expiry = new Date(Date.now() + 86_400_000).toISOString();
      const generated = await admin.call("POST", "tokens/expiring-token/credentials/generate", { name: "password2", expiry });
      expect(generated.body.passwords[0]).toMatchObject({ name: "password2", expiry });
      const past = await admin.call("POST", "tokens/expiring-token/credentials/generate", { name: "password1", expiry: "2020-01-01T00:00:00Z" });
      expect(past.status).toBe(400);
      expect(past.body.error.message).toContain("in the past");
    });

    it("deletes one password or both, as az acr token credential delete, keeping the token", async () => {
      await admin.call("POST", "tokens", { name: "forgetful-token", scopeMap: "_repositories_pull" });
      await admin.call("POST", "tokens/forgetful-token/credentials/generate", {});
      const one = await admin.call("POST", "tokens/forgetful-token/credentials/delete", { name: "password2" });
      expect(one.status).toBe(200);
      expect(one.body.credentials.passwords.map((p: { name: string }) => p.name)).toEqual(["password1"]);
      const both = await admin.call("POST", "tokens/forgetful-token/credentials/delete", {});
      expect(both.body.credentials.passwords).toEqual([]);
      expect((await admin.call("GET", "tokens/forgetful-token")).body.credentials.passwords).toEqual([]);
      expect((await admin.call("POST", "tokens/forgetful-token/credentials/delete", { name: "password3" })).status).toBe(400);
      expect((await admin.call("POST", "tokens/no-such-token/credentials/delete", {})).status).toBe(404);
    });

    it("updates a token's status and scope map, and deletes it", async () => {
      await admin.call("POST", "tokens", { name: "changing-token", scopeMap: "_repositories_pull" });
      const disabled = await admin.call("PATCH", "tokens/changing-token", { status: "disabled", scopeMap: "_repositories_push" });
      expect(disabled.body).toMatchObject({ status: "disabled", scopeMap: "_repositories_push" });
      expect((await admin.call("PATCH", "tokens/changing-token", { status: "paused" })).status).toBe(400);
      expect((await admin.call("DELETE", "tokens/changing-token")).status).toBe(204);
      expect((await admin.call("DELETE", "tokens/changing-token")).status).toBe(404);
    });

    it("answers 404 for an unknown endpoint and 405 for an unsupported method", async () => {
      expect((await admin.call("GET", "nothing-here")).status).toBe(404);
      expect((await admin.call("DELETE", "tokens")).status).toBe(405);
    });
  });
});
