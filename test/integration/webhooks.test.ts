/**
 * Registry webhooks (docs/events.md) against a real local stack and a node:http receiver:
 * payload schema and signature, scope and action filters, a receiver that fails or is
 * down and recovers (every event delivered, ids unique, attempts in the log), a restart
 * of the registry mid-retry, and the delivery latency.
 */
import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { promisify } from "node:util";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManagementClient } from "../support/management-client.js";
import { RegistryClient, OCI_MANIFEST } from "../support/registry-client.js";
import { startTestStack, TEST_ADMIN_KEY, type TestStack } from "../support/stack.js";
import { startStackProcess } from "../support/stack-process.js";
import { WebhookReceiver } from "../support/webhook-receiver.js";
import { createCosmosClient } from "../../dist/shared/composition.js";
import { CosmosEventStore } from "../../dist/shared/store/cosmos/event-store.js";
import { OPERATIONS_CONTAINER } from "../../dist/shared/store/cosmos/containers.js";
import { generateSigningKeyPem, loadSigningKey } from "../../dist/shared/auth/signing-key.js";
import { CredentialSealer } from "../../dist/shared/import/sealed-credentials.js";
import { DeliveryWorker } from "../../dist/shared/events/delivery-worker.js";
import { EventOutbox } from "../../dist/shared/events/outbox.js";
import { WebhookService } from "../../dist/shared/events/webhooks.js";

const CLI = join(import.meta.dirname, "../../dist/scripts/admin-cli/main.js");
const SETTINGS = { WEBHOOK_RETRY_SECONDS: "0.2,0.4,0.8,1,1,1,1,1", WEBHOOK_TIMEOUT_SECONDS: "2" };
let stack: TestStack;
let admin: ManagementClient;
let client: RegistryClient;
const receivers: WebhookReceiver[] = [];

async function receiver(): Promise<WebhookReceiver> {
  const started = new WebhookReceiver();
  await started.start();
  receivers.push(started);
  return started;
}

async function createWebhook(body: Record<string, unknown>): Promise<{ secret: string }> {
  const created = await admin.call("POST", "webhooks", body);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

function signatureOf(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

beforeAll(async () => {
  stack = await startTestStack({ settings: SETTINGS });
  admin = new ManagementClient(stack.registryUrl);
  client = new RegistryClient(stack.registryUrl);
}, 120_000);

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.stop()));
  await stack?.destroy();
});

describe("the webhooks resource", () => {
  it("creates, shows without secrets, lists, updates and deletes a webhook, and refuses bad input naming it", async () => {
    const hook = await receiver();
    const created = await createWebhook({ name: "crudhook", serviceUri: hook.url, actions: ["push"], scope: "crud:*", customHeaders: { Authorization: "Bearer receiver-secret" } });
    expect(created.secret.length).toBeGreaterThanOrEqual(32);
    const shown = await admin.call("GET", "webhooks/crudhook");
    expect(shown.body).toMatchObject({ name: "crudhook", serviceUri: hook.url, actions: ["push"], scope: "crud:*", status: "enabled", format: "eventgrid", customHeaders: ["Authorization"] });
    expect(JSON.stringify(shown.body)).not.toContain("receiver-secret");
    expect(JSON.stringify(shown.body)).not.toContain(created.secret);
    expect((await admin.call("GET", "webhooks")).body.value.map((w: { name: string }) => w.name)).toContain("crudhook");
    const updated = await admin.call("PATCH", "webhooks/crudhook", { status: "disabled", actions: ["push", "delete"] });
    expect(updated.body).toMatchObject({ status: "disabled", actions: ["push", "delete"] });

    const badScope = await admin.call("POST", "webhooks", { name: "badscope1", serviceUri: hook.url, actions: ["push"], scope: "Bad Scope" });
    expect(badScope.status).toBe(400);
    expect(badScope.body.error.message).toContain('"Bad Scope" is not a scope');
    const badUri = await admin.call("POST", "webhooks", { name: "baduri1", serviceUri: "ftp://example.com/", actions: ["push"] });
    expect(badUri.status).toBe(400);
    expect(badUri.body.error.message).toContain("serviceUri");
    const reserved = await admin.call("POST", "webhooks", { name: "badheader1", serviceUri: hook.url, actions: ["push"], customHeaders: { "X-Registry-Signature-256": "x" } });
    expect(reserved.status).toBe(400);
    expect((await admin.call("POST", "webhooks", { name: "crudhook", serviceUri: hook.url, actions: ["push"] })).status).toBe(409);
    expect((await admin.call("GET", "webhooks")).body.value.map((w: { name: string }) => w.name)).not.toContain("badscope1");

    expect((await admin.call("DELETE", "webhooks/crudhook")).status).toBe(204);
    expect((await admin.call("GET", "webhooks/crudhook")).status).toBe(404);
  });

  it("is managed with registry-admin webhook create/show/update/list/ping/list-events/delete, as az acr webhook", async () => {
    const hook = await receiver();
    const cli = async (...args: string[]) =>
      (await promisify(execFile)(process.execPath, [CLI, ...args, "--output", "json"], { env: { PATH: process.env.PATH, REGISTRY_ENDPOINT: stack.registryUrl, REGISTRY_ADMIN_KEY: TEST_ADMIN_KEY } })).stdout;
    const created = JSON.parse(await cli("webhook", "create", "--name", "clihook1", "--uri", hook.url, "--actions", "push", "delete", "--scope", "cli/app:*", "--headers", "X-Team=web", "Authorization=Bearer q"));
    expect(created).toMatchObject({ name: "clihook1", actions: ["push", "delete"], scope: "cli/app:*", customHeaders: ["X-Team", "Authorization"] });
    expect(typeof created.secret).toBe("string");
    expect(JSON.parse(await cli("webhook", "show", "--name", "clihook1")).secret).toBeUndefined();
    expect(JSON.parse(await cli("webhook", "update", "--name", "clihook1", "--actions", "push"))).toMatchObject({ actions: ["push"] });
    expect(JSON.parse(await cli("webhook", "list")).value.map((w: { name: string }) => w.name)).toContain("clihook1");
    expect(JSON.parse(await cli("webhook", "ping", "--name", "clihook1"))).toMatchObject({ status: 200 });
    expect(hook.received[0]!.headers["x-team"]).toBe("web");
    await client.pushImage("cli/app", "v1");
    await hook.waitFor(() => hook.received.length === 2);
    const events = JSON.parse(await cli("webhook", "list-events", "--name", "clihook1", "--top", "10")).value as Array<Record<string, any>>;
    expect(events.map((e) => [e.action, e.state, e.attempts]).sort()).toEqual([["ping", "delivered", 1], ["push", "delivered", 1]]);
    await cli("webhook", "delete", "--name", "clihook1");
    expect((await admin.call("GET", "webhooks/clihook1")).status).toBe(404);
  });

  it("pings the receiver and logs the ping", async () => {
    const hook = await receiver();
    const { secret } = await createWebhook({ name: "pinghook", serviceUri: hook.url, actions: ["push"] });
    const ping = await admin.call("POST", "webhooks/pinghook/ping");
    expect(ping.body).toMatchObject({ status: 200 });
    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]!.headers["x-registry-signature-256"]).toBe(signatureOf(secret, hook.received[0]!.body));
    const log = await admin.call("GET", "webhooks/pinghook/events");
    expect(log.body.value[0]).toMatchObject({ id: ping.body.id, action: "ping", state: "delivered", attempts: 1, eventResponseMessage: { statusCode: 200 } });
  });

  it("refuses a custom header value fetch cannot send (its error would quote the secret value into the delivery log), changing nothing", async () => {
    const hook = await receiver();
    for (const value of ["Bearer x\u0000y", "Bearer x\u007fy", "Bearer \u2603"]) {
      const refused = await admin.call("POST", "webhooks", { name: "badvalue1", serviceUri: hook.url, actions: ["push"], customHeaders: { Authorization: value } });
      expect(refused.status, value).toBe(400);
      expect(refused.body.error.message).toContain("customHeaders");
      expect(refused.body.error.message).not.toContain("Bearer");
    }
    expect((await admin.call("GET", "webhooks/badvalue1")).status).toBe(404);
    await createWebhook({ name: "goodvalue1", serviceUri: hook.url, actions: ["push"], customHeaders: { Authorization: "Bearer ok" } });
    const patched = await admin.call("PATCH", "webhooks/goodvalue1", { customHeaders: { Authorization: "Bearer x\u0000y" } });
    expect(patched.status).toBe(400);
    expect(await admin.call("POST", "webhooks/goodvalue1/ping")).toMatchObject({ body: { status: 200 } });
    expect(hook.received[0]!.headers.authorization).toBe("Bearer ok");
  });

  it("sends a ping once: a receiver that fails it is not pinged again by the retry schedule", async () => {
    const hook = await receiver();
    hook.status = 500;
    await createWebhook({ name: "pingfails1", serviceUri: hook.url, actions: ["push"] });
    const ping = await admin.call("POST", "webhooks/pingfails1/ping");
    expect(ping.body).toMatchObject({ status: 500 });
    hook.status = 200;
    // Past the test retry schedule's first waits (0.2 + 0.4 + 0.8 s): a retry is woken in-process.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(hook.received).toHaveLength(0);
    const log = await admin.call("GET", "webhooks/pingfails1/events");
    expect(log.body.value[0]).toMatchObject({ id: ping.body.id, action: "ping", state: "failed", attempts: 1 });
  });
});

describe("the service URI, a secret too (Azure Functions' ?code=, Slack and Teams URLs)", () => {
  it("is stored sealed, shown redacted in show, list and the delivery log, and answered in full only by get-config", async () => {
    const hook = await receiver();
    const full = `${hook.url}?code=uri-secret-code`;
    const redacted = `${hook.url}?…`;
    const created = await createWebhook({ name: "urihook1", serviceUri: full, actions: ["push"], customHeaders: { Authorization: "Bearer uri-hdr" } });
    expect(created).toMatchObject({ serviceUri: redacted });
    const shown = await admin.call("GET", "webhooks/urihook1");
    expect(shown.body.serviceUri).toBe(redacted);
    const listed = (await admin.call("GET", "webhooks")).body.value.find((w: { name: string }) => w.name === "urihook1");
    expect(listed.serviceUri).toBe(redacted);
    expect(JSON.stringify([created, shown.body, listed])).not.toContain("uri-secret-code");
    // Not in the stored document either.
    const database = createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE);
    const store = new CosmosEventStore(database.container(OPERATIONS_CONTAINER.id), stack.config.REGISTRY_NAME);
    expect(JSON.stringify(await store.getWebhook("urihook1"))).not.toContain("uri-secret-code");

    expect(await admin.call("POST", "webhooks/urihook1/ping")).toMatchObject({ body: { status: 200 } });
    expect(hook.received[0]!.url).toBe("/hook?code=uri-secret-code");
    const log = await admin.call("GET", "webhooks/urihook1/events");
    expect(log.body.value[0].eventRequestMessage.requestUri).toBe(redacted);
    expect(JSON.stringify(log.body)).not.toContain("uri-secret-code");

    const config = await admin.call("GET", "webhooks/urihook1/config");
    expect(config).toMatchObject({ status: 200, body: { serviceUri: full, customHeaders: { Authorization: "Bearer uri-hdr" } } });
    expect((await admin.call("GET", "webhooks/nosuchhook/config")).status).toBe(404);
    const anonymous = await fetch(`${stack.registryUrl}/management/webhooks/urihook1/config`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain("uri-secret-code");

    // An update that leaves the URI alone keeps it; a new one replaces it.
    await admin.call("PATCH", "webhooks/urihook1", { actions: ["push", "delete"] });
    expect((await admin.call("GET", "webhooks/urihook1/config")).body.serviceUri).toBe(full);
    const patched = await admin.call("PATCH", "webhooks/urihook1", { serviceUri: `${hook.url}?code=second-code` });
    expect(patched.body.serviceUri).toBe(redacted);
    expect((await admin.call("GET", "webhooks/urihook1/config")).body).toEqual({ serviceUri: `${hook.url}?code=second-code`, customHeaders: { Authorization: "Bearer uri-hdr" } });

    const cli = await promisify(execFile)(process.execPath, [CLI, "webhook", "get-config", "--name", "urihook1", "--output", "json"], { env: { PATH: process.env.PATH, REGISTRY_ENDPOINT: stack.registryUrl, REGISTRY_ADMIN_KEY: TEST_ADMIN_KEY } });
    expect(JSON.parse(cli.stdout)).toEqual({ serviceUri: `${hook.url}?code=second-code`, customHeaders: { Authorization: "Bearer uri-hdr" } });
    const table = await promisify(execFile)(process.execPath, [CLI, "webhook", "show", "--name", "urihook1"], { env: { PATH: process.env.PATH, REGISTRY_ENDPOINT: stack.registryUrl, REGISTRY_ADMIN_KEY: TEST_ADMIN_KEY } });
    expect(table.stdout).toContain(redacted);
    expect(table.stdout).not.toContain("second-code");
  });

  it("keeps a webhook stored before it was sealed (serviceUri in clear) working, and the re-seal timer seals it", async () => {
    const database = createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE);
    const { container } = await database.containers.createIfNotExists({ id: "webhook-rotation-test", partitionKey: OPERATIONS_CONTAINER.partitionKeyPath });
    const store = new CosmosEventStore(container, "legacy-uri-test");
    const hook = await receiver();
    const sealer = new CredentialSealer(loadSigningKey(generateSigningKeyPem()).privateKey, [], "webhook-secrets");
    const worker = new DeliveryWorker(store, sealer, { retrySeconds: [], timeoutMs: 2000, source: "test", log: () => {} });
    const webhooks = new WebhookService(store, sealer, new EventOutbox(store, worker), worker, "test");
    const now = new Date().toISOString();
    const full = `${hook.url}?code=legacy-code`;
    await store.createWebhook({ name: "legacyuri1", serviceUri: full, actions: ["push"], scope: "", status: "enabled", format: "eventgrid", customHeaderNames: [], sealedSecrets: sealer.sealValue({ secret: "legacy-secret-16chars", headers: {} }), createdAt: now, updatedAt: now }, 500);
    expect((await webhooks.show("legacyuri1")).serviceUri).toBe(`${hook.url}?…`);
    expect(await webhooks.config("legacyuri1")).toEqual({ serviceUri: full, customHeaders: {} });
    expect(await webhooks.ping("legacyuri1")).toMatchObject({ status: 200 });
    expect(hook.received[0]!.url).toBe("/hook?code=legacy-code");
    expect(await webhooks.resealRotated()).toBe(1);
    expect(await webhooks.resealRotated()).toBe(0);
    expect(JSON.stringify(await store.getWebhook("legacyuri1"))).not.toContain("legacy-code");
    expect(await webhooks.config("legacyuri1")).toEqual({ serviceUri: full, customHeaders: {} });
    expect(await webhooks.ping("legacyuri1")).toMatchObject({ status: 200 });
    expect(hook.received[1]!.url).toBe("/hook?code=legacy-code");
  });
});

describe("the webhook limit", () => {
  it("holds under concurrent creates, and a delete frees a slot", async () => {
    // The store with a limit of 3 (the API's is 500), in a container of its own: the local Cosmos
    // server evaluates a patch's condition on every document with that id, in any partition.
    const database = createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE);
    const { container } = await database.containers.createIfNotExists({ id: "webhook-limit-test", partitionKey: OPERATIONS_CONTAINER.partitionKeyPath });
    const store = new CosmosEventStore(container, "limit-test");
    const now = new Date().toISOString();
    const webhook = (name: string) => ({ name, serviceUri: "http://127.0.0.1:9/", actions: ["push" as const], scope: "", status: "enabled" as const, format: "eventgrid" as const, customHeaderNames: [], sealedSecrets: "-", createdAt: now, updatedAt: now });
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => store.createWebhook(webhook(`race${i}`), 3)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(3);
    expect(results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.message)).toEqual(Array(9).fill("a registry has at most 3 webhooks; delete one first"));
    expect(await store.listWebhooks()).toHaveLength(3);
    // A taken name gives its slot back; a delete frees one.
    const [first] = await store.listWebhooks();
    await expect(store.createWebhook(webhook(first!.name), 4)).rejects.toThrow(/exists/);
    expect(await store.deleteWebhook(first!.name)).toBe(true);
    await store.createWebhook(webhook("after-delete"), 3);
    await expect(store.createWebhook(webhook("one-too-many"), 3)).rejects.toThrow(/at most 3/);
  });
});

describe("a signing key rotation", () => {
  it("re-seals webhook secrets under the new key while the previous one is set, so they still open once it is removed", async () => {
    const database = createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE);
    const { container } = await database.containers.createIfNotExists({ id: "webhook-rotation-test", partitionKey: OPERATIONS_CONTAINER.partitionKeyPath });
    const store = new CosmosEventStore(container, "rotation-test");
    const [oldKey, newKey] = [loadSigningKey(generateSigningKeyPem()).privateKey, loadSigningKey(generateSigningKeyPem()).privateKey];
    const service = (sealer: CredentialSealer) => {
      const worker = new DeliveryWorker(store, sealer, { retrySeconds: [], timeoutMs: 1000, source: "test", log: () => {} });
      return { sealer, webhooks: new WebhookService(store, sealer, new EventOutbox(store, worker), worker, "test") };
    };
    const before = service(new CredentialSealer(oldKey, [], "webhook-secrets"));
    const created = await before.webhooks.create({ name: "rotated1", serviceUri: "http://127.0.0.1:9/", actions: ["push"], scope: "", customHeaders: { Authorization: "Bearer x" }, status: "enabled", format: "eventgrid" });
    // docs/operations.md: the new key with the old one as TOKEN_SIGNING_KEY_PREVIOUS, then (hours later) the new key alone.
    const during = service(new CredentialSealer(newKey, [oldKey], "webhook-secrets"));
    expect(await during.webhooks.resealRotated()).toBe(1);
    expect(await during.webhooks.resealRotated()).toBe(0);
    const after = service(new CredentialSealer(newKey, [], "webhook-secrets"));
    expect(after.sealer.openValue((await store.getWebhook("rotated1"))!.sealedSecrets)).toEqual({ secret: created.secret, headers: { Authorization: "Bearer x" }, serviceUri: "http://127.0.0.1:9/" });
  });

  it("says what to do with a webhook whose secrets no configured key opens, and a PATCH of both mends it", async () => {
    const database = createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE);
    const { container } = await database.containers.createIfNotExists({ id: "webhook-rotation-test", partitionKey: OPERATIONS_CONTAINER.partitionKeyPath });
    const store = new CosmosEventStore(container, "rotation-lost-test");
    const hook = await receiver();
    const worker = (sealer: CredentialSealer) => new DeliveryWorker(store, sealer, { retrySeconds: [], timeoutMs: 2000, source: "test", log: () => {} });
    const oldSealer = new CredentialSealer(loadSigningKey(generateSigningKeyPem()).privateKey, [], "webhook-secrets");
    const oldWorker = worker(oldSealer);
    await new WebhookService(store, oldSealer, new EventOutbox(store, oldWorker), oldWorker, "test").create({ name: "lostkey1", serviceUri: hook.url, actions: ["push"], scope: "", customHeaders: {}, status: "enabled", format: "eventgrid" });
    // The previous key was removed before the webhook was re-sealed.
    const sealer = new CredentialSealer(loadSigningKey(generateSigningKeyPem()).privateKey, [], "webhook-secrets");
    const newWorker = worker(sealer);
    const webhooks = new WebhookService(store, sealer, new EventOutbox(store, newWorker), newWorker, "test");
    const ping = await webhooks.ping("lostkey1");
    expect(ping.error).toMatch(/signing key.*PATCH.*secret.*customHeaders/);
    expect(hook.received).toHaveLength(0);
    await expect(webhooks.update("lostkey1", { status: "enabled" })).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/secret and customHeaders/) });
    await expect(webhooks.update("lostkey1", { secret: "a-new-secret-of-24-chars", customHeaders: {} })).rejects.toMatchObject({ status: 409 });
    await webhooks.update("lostkey1", { serviceUri: hook.url, secret: "a-new-secret-of-24-chars", customHeaders: {} });
    expect(await webhooks.ping("lostkey1")).toMatchObject({ status: 200 });
  });
});

describe("fresh deliveries held up by a slow receiver", () => {
  it("are not sent again from memory once their claim has lapsed and a drain took them", async () => {
    const database = createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE);
    const { container } = await database.containers.createIfNotExists({ id: "webhook-fresh-test", partitionKey: OPERATIONS_CONTAINER.partitionKeyPath });
    const store = new CosmosEventStore(container, "fresh-test");
    const hook = await receiver();
    hook.hold = true; // every send waits for the timeout
    let offset = 0;
    const now = () => Date.now() + offset;
    const sealer = new CredentialSealer(loadSigningKey(generateSigningKeyPem()).privateKey, [], "webhook-secrets");
    const worker = new DeliveryWorker(store, sealer, { retrySeconds: [], timeoutMs: 700, source: "test", log: () => {}, concurrency: 1, now });
    const outbox = new EventOutbox(store, worker, now);
    await new WebhookService(store, sealer, outbox, worker, "test").create({ name: "freshhook1", serviceUri: hook.url, actions: ["push"], scope: "", customHeaders: {}, status: "enabled", format: "eventgrid" });
    await outbox.emit({ id: "fresh-event-1", action: "push", target: { repository: "fresh/app", tag: "a" } });
    await outbox.emit({ id: "fresh-event-2", action: "push", target: { repository: "fresh/app", tag: "b" } });
    // The second waits in memory behind the first while its claim lapses; the timer's drain (here, or on another instance) takes both.
    offset = 60_000;
    await worker.drain();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const sends = (id: string) => hook.events().filter((event) => event.id === id).length;
    expect(sends("fresh-event-2")).toBe(1);
  });
});

describe("event delivery", () => {
  it("delivers a push as Event Grid's ImagePushed, signed, with the custom headers", async () => {
    const hook = await receiver();
    const { secret } = await createWebhook({ name: "pushhook", serviceUri: hook.url, actions: ["push"], scope: "shape/app:*", customHeaders: { Authorization: "Bearer abc" } });
    const pushed = await client.pushImage("shape/app", "v1");
    await hook.waitFor(() => hook.received.length === 1);
    const delivery = hook.received[0]!;
    expect(delivery.headers["content-type"]).toContain("application/json");
    expect(delivery.headers.authorization).toBe("Bearer abc");
    expect(delivery.headers["x-registry-signature-256"]).toBe(signatureOf(secret, delivery.body));
    const [event] = JSON.parse(delivery.body) as Array<Record<string, any>>;
    expect(event).toMatchObject({
      eventType: "Microsoft.ContainerRegistry.ImagePushed",
      subject: "shape/app:v1",
      data: {
        action: "push",
        target: { mediaType: OCI_MANIFEST, size: pushed.manifest.length, length: pushed.manifest.length, digest: pushed.digest, repository: "shape/app", tag: "v1" },
        request: { method: "PUT", host: stack.registryHost },
      },
    });
    expect(event!.id).toBe(event!.data.id);
    expect(delivery.headers["x-registry-event-id"]).toBe(event!.id);
    expect(typeof event!.data.request.id).toBe("string");
  });

  it("sends CloudEvents 1.0 when the webhook asks, and deletes as ImageDeleted", async () => {
    const hook = await receiver();
    await createWebhook({ name: "cloudhook", serviceUri: hook.url, actions: ["delete"], scope: "ce/app:*", format: "cloudevents" });
    const pushed = await client.pushImage("ce/app", "v1");
    expect((await fetch(`${stack.registryUrl}/v2/ce/app/manifests/v1`, { method: "DELETE" })).status).toBe(202);
    expect((await fetch(`${stack.registryUrl}/v2/ce/app/manifests/${pushed.digest}`, { method: "DELETE" })).status).toBe(202);
    await hook.waitFor(() => hook.received.length === 2);
    expect(hook.received[0]!.headers["content-type"]).toContain("application/cloudevents+json");
    const events = hook.events();
    // The push is not delivered: the webhook asked for deletes only.
    expect(events.map((e) => [e.type, e.data.target.tag ?? null, e.specversion]).sort()).toEqual(
      [
        ["Microsoft.ContainerRegistry.ImageDeleted", "v1", "1.0"],
        ["Microsoft.ContainerRegistry.ImageDeleted", null, "1.0"],
      ].sort(),
    );
    expect(events.every((e) => e.data.target.digest === pushed.digest && e.data.target.repository === "ce/app")).toBe(true);
  });

  it("raises one ImageDeleted per referrer the cascade removes with its subject, as for a digest delete", async () => {
    const hook = await receiver();
    await createWebhook({ name: "cascadehook", serviceUri: hook.url, actions: ["delete"], scope: "casc/app:*" });
    const image = await client.pushImage("casc/app", "v1");
    const descriptor = (pushed: { digest: string; manifest: Buffer }) => ({ mediaType: OCI_MANIFEST, digest: pushed.digest, size: pushed.manifest.length });
    const sbom = await client.pushImage("casc/app", "sbom", { artifactType: "application/spdx+json", subject: descriptor(image) });
    const signature = await client.pushImage("casc/app", "sbom-sig", { artifactType: "application/vnd.cncf.notary.signature", subject: descriptor(sbom) });
    expect((await fetch(`${stack.registryUrl}/v2/casc/app/manifests/${image.digest}`, { method: "DELETE" })).status).toBe(202);
    await hook.waitFor(() => hook.received.length >= 3);
    await new Promise((resolve) => setTimeout(resolve, 300)); // nothing more comes
    const events = hook.events();
    expect(events).toHaveLength(3);
    expect(events.map((e) => e.data.target.digest).sort()).toEqual([image.digest, sbom.digest, signature.digest].sort());
    for (const event of events) {
      expect(event).toMatchObject({ eventType: "Microsoft.ContainerRegistry.ImageDeleted", subject: `casc/app@${event.data.target.digest}` });
      expect(event.data).toMatchObject({ action: "delete", target: { mediaType: OCI_MANIFEST, repository: "casc/app" }, request: { method: "DELETE" } });
      expect(event.data.target.tag).toBeUndefined();
    }
  });

  it("honours the scope: repo:tag, wildcards, and repo alone as repo:latest", async () => {
    const tagged = await receiver();
    const wildcard = await receiver();
    const bare = await receiver();
    await createWebhook({ name: "scopetag", serviceUri: tagged.url, actions: ["push"], scope: "scope/app:v1" });
    await createWebhook({ name: "scopewild", serviceUri: wildcard.url, actions: ["push"], scope: "scope/*:rel-*" });
    await createWebhook({ name: "scopebare", serviceUri: bare.url, actions: ["push"], scope: "scope/app" });
    for (const [repository, tag] of [["scope/app", "v1"], ["scope/app", "v2"], ["scope/app", "rel-1"], ["scope/other", "rel-2"], ["scope/app", "latest"], ["elsewhere/app", "v1"]] as const) {
      await client.pushImage(repository, tag);
    }
    await wildcard.waitFor(() => wildcard.received.length >= 2);
    await bare.waitFor(() => bare.received.length >= 1);
    await tagged.waitFor(() => tagged.received.length >= 1);
    // Let anything that should not come have its chance to come.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const subjects = (hook: WebhookReceiver) => hook.events().map((e) => e.subject).sort();
    expect(subjects(tagged)).toEqual(["scope/app:v1"]);
    expect(subjects(wildcard)).toEqual(["scope/app:rel-1", "scope/other:rel-2"]);
    expect(subjects(bare)).toEqual(["scope/app:latest"]);
  });

  it.each([
    ["answers 500", async (hook: WebhookReceiver) => void (hook.status = 500), async (hook: WebhookReceiver) => void (hook.status = 200)],
    ["refuses connections", (hook: WebhookReceiver) => hook.stop(), (hook: WebhookReceiver) => hook.start()],
  ] as const)("loses nothing when the receiver %s and then recovers: every event once or more, ids unique per event, attempts logged", async (what, fail, recover) => {
    const hook = await receiver();
    const name = what.startsWith("answers") ? "failhttp" : "failconn";
    await createWebhook({ name, serviceUri: hook.url, actions: ["push"], scope: `${name}/app:*` });
    await fail(hook);
    const tags = ["t1", "t2", "t3", "t4", "t5"];
    for (const tag of tags) await client.pushImage(`${name}/app`, tag);
    // Several retries fail first.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(hook.received).toHaveLength(0);
    await recover(hook);
    await hook.waitFor(() => new Set(hook.events().map((e) => e.data.target.tag)).size === tags.length);
    const events = hook.events();
    expect([...new Set(events.map((e) => e.data.target.tag))].sort()).toEqual(tags);
    // Duplicates, if any, carry the same id; different events never share one.
    const idsByTag = new Map<string, Set<string>>();
    for (const event of events) idsByTag.set(event.data.target.tag, (idsByTag.get(event.data.target.tag) ?? new Set()).add(event.id));
    expect([...idsByTag.values()].every((ids) => ids.size === 1)).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(tags.length);
    const log = (await admin.call("GET", `webhooks/${name}/events`)).body.value as Array<Record<string, any>>;
    expect(log).toHaveLength(tags.length);
    for (const entry of log) {
      expect(entry.state).toBe("delivered");
      expect(entry.attempts).toBeGreaterThan(1);
      expect(entry.eventResponseMessage.statusCode).toBe(200);
      const failed = entry.history[0];
      expect(what.startsWith("answers") ? failed.status === 500 : failed.status === undefined && typeof failed.error === "string").toBe(true);
    }
  });
});

describe("across a registry restart", () => {
  it("delivers an event whose receiver was down while the registry stopped and started again", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "webhook-restart-"));
    const hook = await receiver();
    let first: TestStack | undefined = await startTestStack({ dataDir, settings: SETTINGS });
    try {
      const firstAdmin = new ManagementClient(first.registryUrl);
      expect((await firstAdmin.call("POST", "webhooks", { name: "restarthook", serviceUri: hook.url, actions: ["push"] })).status).toBe(201);
      await hook.stop();
      await new RegistryClient(first.registryUrl).pushImage("restart/app", "v1");
      // At least one attempt failed before the stop: the delivery is mid-retry.
      await new Promise((resolve) => setTimeout(resolve, 400));
      await first.stop();
      first = undefined;
      await hook.start();
      const second = await startTestStack({ dataDir, settings: SETTINGS });
      try {
        await hook.waitFor(() => hook.received.length >= 1, 30_000);
        expect(hook.events().map((e) => e.subject)).toContain("restart/app:v1");
        const log = (await new ManagementClient(second.registryUrl).call("GET", "webhooks/restarthook/events")).body.value;
        expect(log[0]).toMatchObject({ state: "delivered" });
        expect(log[0].attempts).toBeGreaterThan(1);
      } finally {
        await second.stop();
      }
    } finally {
      await first?.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("a crash of the registry while it sends", () => {
  it("sends the event again after the restart, with the same id: a duplicate the receiver can drop", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "webhook-crash-"));
    const hook = await receiver();
    const env = { REGISTRY_ALLOW_ANONYMOUS: "true", WEBHOOK_TIMEOUT_SECONDS: "1", WEBHOOK_RETRY_SECONDS: "0.2,0.5,1" };
    const first = await startStackProcess(dataDir, env);
    let second: Awaited<ReturnType<typeof startStackProcess>> | undefined;
    try {
      const firstAdmin = new ManagementClient(first.url, first.adminKey!);
      expect((await firstAdmin.call("POST", "webhooks", { name: "crashhook", serviceUri: hook.url, actions: ["push"] })).status).toBe(201);
      hook.hold = true;
      await new RegistryClient(first.url).pushImage("crash/app", "v1");
      // The receiver has the event but the registry never hears back: it dies now.
      await hook.waitFor(() => hook.received.length === 1);
      await first.signalGroup("SIGKILL");
      hook.hold = false;
      second = await startStackProcess(dataDir, env);
      await hook.waitFor(() => hook.received.length >= 2, 30_000);
      const [before, after] = hook.received;
      expect(after!.headers["x-registry-event-id"]).toBe(before!.headers["x-registry-event-id"]);
      expect(JSON.parse(after!.body)[0].id).toBe(JSON.parse(before!.body)[0].id);
      const log = (await new ManagementClient(second.url, first.adminKey!).call("GET", "webhooks/crashhook/events")).body.value;
      expect(log).toHaveLength(1);
      expect(log[0]).toMatchObject({ state: "delivered" });
    } finally {
      if (first.process.exitCode === null && first.process.signalCode === null) await first.signalGroup("SIGKILL");
      await second?.signalGroup("SIGTERM");
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("latency", () => {
  it("measures push acknowledged -> receiver got it over 200 pushes", async () => {
    const hook = await receiver();
    await createWebhook({ name: "latencyhook", serviceUri: hook.url, actions: ["push"], scope: "latency/app:*" });
    const base = await client.pushImage("latency/app", "base");
    await hook.waitFor(() => hook.received.length === 1);
    const acknowledged = new Map<string, number>();
    const manifest = base.manifest;
    for (let i = 0; i < 200; i++) {
      const response = await client.putManifest("latency/app", `p${i}`, manifest);
      acknowledged.set(`p${i}`, performance.now());
      expect(response.status).toBe(201);
    }
    await hook.waitFor(() => hook.received.length === 201, 60_000);
    const latencies = hook.received
      .map((delivery) => {
        const [event] = JSON.parse(delivery.body) as Array<Record<string, any>>;
        const sent = acknowledged.get(event!.data.target.tag);
        return sent === undefined ? undefined : delivery.at - sent;
      })
      .filter((value): value is number => value !== undefined)
      .sort((a, b) => a - b);
    expect(latencies).toHaveLength(200);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    console.log(`webhook delivery latency over 200 pushes: p50 ${p(0.5).toFixed(1)} ms, p99 ${p(0.99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`);
    // Sent right after the push, not on the timer's 5 s tick.
    expect(p(0.5)).toBeLessThan(1000);
  }, 120_000);
});
