/**
 * The edge agent against the real local cloud stack, driven over HTTP: activation and the
 * first sync, local auth with synced client tokens, ReadOnly refusals, and changes in the
 * cloud (tags, configuration) reaching the edge. Real clients (podman, skopeo) and
 * crashes are in test/e2e/edge-agent.test.ts.
 */
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually, removeEdgeData, selfSignedCertificate, startEdge, TlsAuthorizedClient, type EdgeProcess } from "../support/edge.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, basicAuthorization } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const execFileAsync = promisify(execFile);

describe("edge agent (ReadOnly, continuous)", () => {
  let stack: TestStack;
  let management: ManagementClient;
  let cloud: AuthorizedClient;
  let edge: EdgeProcess;
  let edgeClient: AuthorizedClient;
  let readerPassword: string;
  let pullerPassword: string;

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    management = new ManagementClient(stack.registryUrl);
    const adminPassword = await management.tokenWithPassword("cloudadmin", { scopeMap: "_repositories_admin" });
    cloud = new AuthorizedClient(stack.registryUrl, basicAuthorization("cloudadmin", adminPassword));
    await cloud.pushImage("hello-world", "latest");
    await cloud.pushImage("other", "v1");
    readerPassword = await management.tokenWithPassword("reader", { repositories: [{ name: "hello-world", actions: ["content/read", "metadata/read"] }] });
    pullerPassword = await management.tokenWithPassword("puller", { scopeMap: "_repositories_pull" });
    const connectionString = await createConnectedRegistry(
      management,
      { name: "factory1", mode: "ReadOnly", repositories: ["hello-world", "other"], clientTokens: ["reader", "puller"] },
      stack.registryHost,
    );
    edge = await startEdge({ connectionString });
    edgeClient = new AuthorizedClient(edge.url, basicAuthorization("reader", readerPassword));
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync");
  }, 120_000);

  afterAll(async () => {
    if (process.env.EDGE_DEBUG) console.log(JSON.stringify(edge?.logs.filter((l) => l.level !== "debug"), null, 1));
    await edge?.stop();
    if (edge) await removeEdgeData(edge.dataDir);
    await stack?.destroy();
  });

  it("serves what the cloud has, byte-identical, to a client token", async () => {
    const cloudManifest = await cloud.fetch("/v2/hello-world/manifests/latest", { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
    const edgeManifest = await edgeClient.fetch("/v2/hello-world/manifests/latest", { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
    expect(edgeManifest.status).toBe(200);
    expect(Buffer.from(await edgeManifest.arrayBuffer())).toEqual(Buffer.from(await cloudManifest.arrayBuffer()));
  });

  it("refuses a repository outside the client token's scope, and anonymous clients", async () => {
    const denied = await edgeClient.fetch("/v2/other/manifests/v1");
    expect(denied.status).toBe(403);
    const anonymous = await fetch(`${edge.url}/v2/hello-world/manifests/latest`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toContain(`realm="${edge.url}/oauth2/token"`);
  });

  it("issues its own bearer tokens to client tokens", async () => {
    const answer = await fetch(`${edge.url}/oauth2/token?service=${edge.host}&scope=repository:hello-world:pull`, {
      headers: { Authorization: basicAuthorization("reader", readerPassword) },
    });
    expect(answer.status).toBe(200);
    const { token } = (await answer.json()) as { token: string };
    const pulled = await fetch(`${edge.url}/v2/hello-world/tags/list`, { headers: { Authorization: `Bearer ${token}` } });
    expect(await pulled.json()).toEqual({ name: "hello-world", tags: ["latest"] });
  });

  it("challenges a bearer token short of the scope with insufficient_scope, as the cloud does, and grants it to a client token that may have it", async () => {
    const tokenFor = async (username: string, password: string, scope: string): Promise<string> => {
      const answer = await fetch(`${edge.url}/oauth2/token?service=${encodeURIComponent(edge.host)}&scope=${encodeURIComponent(scope)}`, {
        headers: { Authorization: basicAuthorization(username, password) },
      });
      expect(answer.status).toBe(200);
      return ((await answer.json()) as { token: string }).token;
    };
    const challenge = `Bearer realm="${edge.url}/oauth2/token",service="${edge.host}",scope="repository:other:pull",error="insufficient_scope"`;
    for (const [username, password] of [["reader", readerPassword], ["puller", pullerPassword]] as const) {
      const helloOnly = await tokenFor(username, password, "repository:hello-world:pull");
      const refused = await fetch(`${edge.url}/v2/other/tags/list`, { headers: { Authorization: `Bearer ${helloOnly}` } });
      expect(refused.status).toBe(401);
      expect(refused.headers.get("www-authenticate")).toBe(challenge);
      // Following the challenge: puller's scope map reads every repository, reader's only hello-world.
      const retried = await fetch(`${edge.url}/v2/other/tags/list`, { headers: { Authorization: `Bearer ${await tokenFor(username, password, "repository:other:pull")}` } });
      if (username === "puller") {
        expect(retried.status).toBe(200);
        expect(await retried.json()).toEqual({ name: "other", tags: ["v1"] });
      } else {
        expect(retried.status).toBe(401);
        const body = (await retried.json()) as { errors: Array<{ code: string; message: string }> };
        expect(body.errors[0]!.code).toBe("UNAUTHORIZED");
        expect(body.errors[0]!.message).toContain('repository:other:pull, and token "reader" may not have it');
      }
    }
  });

  it("answers the referrers API with an empty index for a repository it does not hold", async () => {
    const puller = new AuthorizedClient(edge.url, basicAuthorization("puller", pullerPassword));
    const response = await puller.fetch(`/v2/not-synced/referrers/sha256:${"0".repeat(64)}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/vnd.oci.image.index.v1+json");
    expect(await response.json()).toEqual({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] });
  });

  it("refuses pushes in ReadOnly mode, saying so", async () => {
    const response = await edgeClient.fetch("/v2/hello-world/blobs/uploads/", { method: "POST" });
    expect(response.status).toBe(405);
    const body = (await response.json()) as { errors: Array<{ message: string }> };
    expect(body.errors[0]!.message).toMatch(/read-only/);
  });

  it("follows tag sets, moves and deletes in the cloud within seconds", async () => {
    const pushed = await cloud.pushImage("hello-world", "v2");
    await eventually(async () => (await edgeClient.fetch("/v2/hello-world/manifests/v2", { method: "HEAD" })).headers.get("docker-content-digest") === pushed.digest, 15_000, "v2 at the edge");
    const moved = await cloud.pushImage("hello-world", "v2");
    await eventually(async () => (await edgeClient.fetch("/v2/hello-world/manifests/v2", { method: "HEAD" })).headers.get("docker-content-digest") === moved.digest, 15_000, "v2 moved at the edge");
    expect((await cloud.fetch("/v2/hello-world/manifests/v2", { method: "DELETE" })).status).toBe(202);
    await eventually(async () => (await edgeClient.fetch("/v2/hello-world/manifests/v2", { method: "HEAD" })).status === 404, 15_000, "v2 gone at the edge");
  });

  it("stops accepting a client token disabled in the cloud", async () => {
    expect((await management.call("PATCH", "tokens/reader", { status: "disabled" })).status).toBe(200);
    await eventually(async () => (await edgeClient.fetch("/v2/hello-world/tags/list")).status === 401, 20_000, "token refused at the edge");
    expect((await management.call("PATCH", "tokens/reader", { status: "enabled" })).status).toBe(200);
    await eventually(async () => (await edgeClient.fetch("/v2/hello-world/tags/list")).status === 200, 20_000, "token accepted again");
  });

  it("syncs a repository added to its scope, history included, and drops one removed", async () => {
    const pushed = await cloud.pushImage("added", "v1");
    const puller = new AuthorizedClient(edge.url, basicAuthorization("puller", pullerPassword));
    expect((await puller.fetch("/v2/added/manifests/v1", { method: "HEAD" })).status).toBe(404);
    expect((await management.call("POST", "connectedRegistries/factory1/permissions", { addRepositories: ["added"], removeRepositories: ["other"] })).status).toBe(200);
    await eventually(async () => (await puller.fetch("/v2/added/manifests/v1", { method: "HEAD" })).headers.get("docker-content-digest") === pushed.digest, 20_000, "the added repository at the edge");
    await eventually(async () => (await puller.fetch("/v2/other/manifests/v1", { method: "HEAD" })).status === 404, 20_000, "the removed repository's tag gone");
  });

  it("reports metrics and status", async () => {
    const metrics = await (await fetch(`${edge.url}/metrics`)).text();
    expect(metrics).toMatch(/connected_registry_http_requests_total\{route="v2"/);
    expect(metrics).toMatch(/connected_registry_last_sync_timestamp_seconds \d/);
    const status = await edge.status();
    expect(status.activation.status).toBe("Active");
    expect(status.mode).toBe("ReadOnly");
    // Over HTTP, without credentials, no token names.
    expect(status.clientTokens).toBe(2);

    const { stdout } = await execFileAsync(process.execPath, [join(import.meta.dirname, "../../dist/edge-agent/src/cli.js"), "status", "--data", edge.dataDir]);
    expect(stdout).toMatch(/connected registry: factory1/);
    expect(stdout).toMatch(/activation: +Active/);
    expect(stdout).toMatch(/client tokens: +reader, puller/);
    expect(stdout).toMatch(/full sync: +done/);
    const shown = await management.call("GET", "connectedRegistries/factory1");
    expect(shown.body.connectionState).toBe("Online");
  });
});

describe("edge agents in a chain (cloud -> ReadWrite A -> ReadOnly B)", () => {
  let stack: TestStack;
  let management: ManagementClient;
  let cloud: AuthorizedClient;
  let edgeA: EdgeProcess;
  let edgeB: EdgeProcess;
  let writerPassword: string;
  let certificate: { cert: string; key: string };

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    management = new ManagementClient(stack.registryUrl);
    const adminPassword = await management.tokenWithPassword("cloudadmin", { scopeMap: "_repositories_admin" });
    cloud = new AuthorizedClient(stack.registryUrl, basicAuthorization("cloudadmin", adminPassword));
    await cloud.pushImage("apps", "base");
    writerPassword = await management.tokenWithPassword("writer", { repositories: [{ name: "apps", actions: ["content/read", "content/write", "content/delete", "metadata/read", "metadata/write"] }] });
    const connectionA = await createConnectedRegistry(management, { name: "edgeA", mode: "ReadWrite", repositories: ["apps"], clientTokens: ["writer"] }, stack.registryHost);
    // A serves HTTPS with a certificate of its own; B trusts it with --parent-ca.
    certificate = await selfSignedCertificate(stack.dataDir);
    edgeA = await startEdge({ connectionString: connectionA, tls: certificate, advertise: true });
    await eventually(async () => (await management.call("GET", "connectedRegistries/edgeA")).body.loginServer?.host === edgeA.host, 10_000, "A's address reported");
    await eventually(async () => (await edgeA.status()).fullSyncDone, 30_000, "A's first sync");
    // get-settings names A (its reported address, https since A serves TLS) as B's parent.
    const connectionB = await createConnectedRegistry(management, { name: "edgeB", mode: "ReadOnly", parent: "edgeA", repositories: ["apps"], clientTokens: ["writer"] });
    expect(connectionB).toContain(`ParentGatewayEndpoint=${edgeA.host};ParentEndpointProtocol=https`);
    // A learns about its new child at its next configuration read; until then B's activation is refused and retried.
    edgeB = await startEdge({ connectionString: connectionB, args: ["--parent-ca", certificate.cert] });
    await eventually(async () => (await edgeB.status()).fullSyncDone, 30_000, "B's first sync");
  }, 180_000);

  afterAll(async () => {
    for (const edge of [edgeB, edgeA]) {
      await edge?.stop();
      if (edge) await removeEdgeData(edge.dataDir);
    }
    await stack?.destroy();
  });

  it("brings the cloud's content down two levels", async () => {
    const pushed = await cloud.pushImage("apps", "v1");
    const atB = new AuthorizedClient(edgeB.url, basicAuthorization("writer", writerPassword));
    await eventually(async () => (await atB.fetch("/v2/apps/manifests/v1", { method: "HEAD" })).headers.get("docker-content-digest") === pushed.digest, 20_000, "v1 at B");
    expect((await atB.fetch("/v2/apps/manifests/base", { method: "HEAD" })).status).toBe(200);
  });

  it("pushes what a client pushed to A up to the cloud, and down to B", async () => {
    const atA = new TlsAuthorizedClient(edgeA.url, basicAuthorization("writer", writerPassword), await readFile(certificate.cert));
    const pushed = await atA.pushImage("apps", "from-edge");
    await eventually(async () => (await cloud.fetch("/v2/apps/manifests/from-edge", { method: "HEAD" })).headers.get("docker-content-digest") === pushed.digest, 20_000, "the edge's push in the cloud");
    const atB = new AuthorizedClient(edgeB.url, basicAuthorization("writer", writerPassword));
    await eventually(async () => (await atB.fetch("/v2/apps/manifests/from-edge", { method: "HEAD" })).status === 200, 20_000, "the edge's push at B");
  });

  it("refuses pushes at the ReadOnly child", async () => {
    const atB = new AuthorizedClient(edgeB.url, basicAuthorization("writer", writerPassword));
    expect((await atB.fetch("/v2/apps/blobs/uploads/", { method: "POST" })).status).toBe(405);
  });
});

describe("edge agent (ReadWrite): conflicts, schedules and recovery", () => {
  let stack: TestStack;
  let management: ManagementClient;
  let cloud: AuthorizedClient;
  let writerPassword: string;
  const edges: EdgeProcess[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    management = new ManagementClient(stack.registryUrl);
    const adminPassword = await management.tokenWithPassword("cloudadmin", { scopeMap: "_repositories_admin" });
    cloud = new AuthorizedClient(stack.registryUrl, basicAuthorization("cloudadmin", adminPassword));
    writerPassword = await management.tokenWithPassword("writer", { repositories: [{ name: "shared", actions: ["content/read", "content/write", "metadata/read", "metadata/write"] }] });
    await cloud.pushImage("shared", "seed");
  }, 60_000);

  afterAll(async () => {
    for (const edge of edges) {
      await edge.stop();
      await removeEdgeData(edge.dataDir);
    }
    await stack?.destroy();
  });

  const digestAt = async (client: AuthorizedClient, reference: string): Promise<string | null> =>
    (await client.fetch(`/v2/shared/manifests/${reference}`, { method: "HEAD", headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } })).headers.get("docker-content-digest");

  it("when a tag changed on both sides, the parent's version wins and the edge's image stays reachable by digest", async () => {
    const connectionString = await createConnectedRegistry(management, { name: "conflict1", mode: "ReadWrite", repositories: ["shared"], clientTokens: ["writer"] }, stack.registryHost);
    // A long interval leaves time to change the tag on both sides between two cycles.
    const edge = await startEdge({ connectionString, args: ["--sync-interval", "8"] });
    edges.push(edge);
    await eventually(async () => (await edge.status()).lastSyncTime, 30_000, "first sync");
    const synced = (await edge.status()).lastSyncTime;
    await eventually(async () => (await edge.status()).lastSyncTime !== synced, 20_000, "a second cycle");

    const atEdge = new AuthorizedClient(edge.url, basicAuthorization("writer", writerPassword));
    const local = await atEdge.pushImage("shared", "app");
    const parents = await cloud.pushImage("shared", "app");

    await eventually(async () => (await digestAt(cloud, local.digest)) === local.digest, 30_000, "the edge's image in the cloud by digest");
    expect(await digestAt(cloud, "app")).toBe(parents.digest);
    await eventually(async () => (await digestAt(atEdge, "app")) === parents.digest, 20_000, "the parent's tag at the edge");
    expect(await digestAt(atEdge, local.digest)).toBe(local.digest);
  });

  it("outside its sync window it activates but does not sync, and says so", async () => {
    const now = new Date();
    // A daily window that opened two hours ago and lasted one hour: closed now, not open again for ~22 hours.
    const opened = new Date(now.getTime() - 2 * 3600_000);
    const connectionString = await createConnectedRegistry(
      management,
      { name: "windowed1", mode: "ReadOnly", repositories: ["shared"], clientTokens: ["writer"], schedule: `${opened.getUTCMinutes()} ${opened.getUTCHours()} * * *`, syncWindow: "PT1H" },
      stack.registryHost,
    );
    // Without pull-through, so the client's HEAD below shows what the sync brought (nothing), not what a miss fetches.
    const edge = await startEdge({ connectionString, args: ["--no-pull-through"] });
    edges.push(edge);
    await eventually(async () => (await edge.status()).activation.status === "Active", 20_000, "activation");
    await eventually(async () => edge.logs.some((entry) => entry.message === "outside the sync window: not contacting the parent"), 10_000, "the window log");
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const status = await edge.status();
    expect(status.fullSyncDone).toBe(false);
    expect(status.lastSyncTime).toBeUndefined();
    expect(status.outsideSyncWindow).toMatch(/^outside the sync window, next window at \d{4}-\d\d-\d\dT/);
    const atEdge = new AuthorizedClient(edge.url, basicAuthorization("writer", writerPassword));
    expect((await atEdge.fetch("/v2/shared/manifests/seed", { method: "HEAD" })).status).toBe(404);
  });

  it("after a cursor older than the message TTL, does a full resync and catches up", async () => {
    const connectionString = await createConnectedRegistry(management, { name: "expired1", mode: "ReadOnly", repositories: ["shared"], clientTokens: ["writer"] }, stack.registryHost);
    const edge = await startEdge({ connectionString });
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync");
    await edge.stop();

    // The cursor records when it was issued; make it older than any message TTL.
    const statePath = join(edge.dataDir, "state.json");
    const state = JSON.parse(await readFile(statePath, "utf8")) as { cursor: string };
    const cursor = JSON.parse(Buffer.from(state.cursor, "base64url").toString("utf8")) as { t: number };
    state.cursor = Buffer.from(JSON.stringify({ ...cursor, t: 0 })).toString("base64url");
    await writeFile(statePath, JSON.stringify(state));
    const pushed = await cloud.pushImage("shared", "while-stopped");

    // Without pull-through: the client's first 404 would fetch the tag from the parent, and
    // the tag would be there before (and without) the resync this test is about.
    const restarted = await startEdge({ connectionString, dataDir: edge.dataDir, args: ["--no-pull-through"] });
    edges.push(restarted);
    const atEdge = new AuthorizedClient(restarted.url, basicAuthorization("writer", writerPassword));
    await eventually(async () => (await digestAt(atEdge, "while-stopped")) === pushed.digest, 30_000, "the tag pushed while stopped");
    expect(restarted.logs.some((entry) => String(entry.message).includes("full resync"))).toBe(true);
  });
});
