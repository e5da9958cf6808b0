/**
 * The lifecycle timers other than garbage collection (blob-gc.test.ts), run as the timer runs
 * them, on a second instance of the cloud side over the same stores.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeExpiredPasswords } from "../../dist/shared/admin/password-expiry.js";
import { createCloudServices, type CloudServices } from "../../dist/shared/composition.js";
import { ManagementClient } from "../support/management-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

describe("lifecycle timers", () => {
  let stack: TestStack;
  let management: ManagementClient;
  let services: CloudServices;
  const logs: string[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    management = new ManagementClient(stack.registryUrl);
    // Its imports go to a queue nobody drains, so they stay Running until the sweep ends them.
    services = createCloudServices({ ...stack.config, IMPORT_QUEUE: "parked-imports" }, (message) => logs.push(message));
  }, 60_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  it("removes expired passwords from their tokens, keeps the others, and does nothing the second time", async () => {
    expect((await management.call("POST", "tokens", { name: "expiring", scopeMap: "_repositories_pull" })).status).toBe(201);
    const soon = new Date(Date.now() + 1500).toISOString();
    expect((await management.call("POST", "tokens/expiring/credentials/generate", { name: "password1", expiry: soon })).status).toBe(200);
    expect((await management.call("POST", "tokens/expiring/credentials/generate", { name: "password2" })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2000));

    expect(await removeExpiredPasswords(services.sync.identity, new Date(), 100, (message) => logs.push(message))).toBe(1);
    const token = await management.call("GET", "tokens/expiring");
    expect(token.body.credentials.passwords.map((p: { name: string }) => p.name)).toEqual(["password2"]);
    expect(await removeExpiredPasswords(services.sync.identity, new Date(), 100, () => {})).toBe(0);
    expect(logs.some((line) => line.includes("removed 1 expired password from 1 token"))).toBe(true);
  });

  it("ends imports no worker advanced for an hour as Failed, and leaves recent ones running", async () => {
    const operation = await services.admin.imports.start({ source: "nothing-here:v1", targetTags: ["parked:v1"], mode: "NoForce", wait: false });
    expect(await services.admin.imports.expireStale(new Date(), 60 * 60 * 1000, 100)).toBe(0);
    expect((await services.admin.imports.get(operation.id))?.status).toBe("Running");

    expect(await services.admin.imports.expireStale(new Date(Date.now() + 2 * 60 * 60 * 1000), 60 * 60 * 1000, 100)).toBe(1);
    const shown = await management.call("GET", `operations/${operation.id}`);
    expect(shown.body).toMatchObject({ status: "Failed", error: { code: "Abandoned" } });
    expect(shown.body.error.message).toContain("start it again");
  });
});
