/**
 * The edge agent behind an outbound proxy (docs/edge-agent.md, "Outbound proxy"): real edge
 * agents reach their parent through a real forward proxy (Debian's tinyproxy), whose own log
 * shows that the traffic went through it. With Basic proxy authentication and without; a proxy
 * that refuses (wrong credentials, an ACL) leaves the agent unable to sync, with an error naming
 * the proxy and never its password; NO_PROXY sends the parent around the proxy; an https parent
 * (an edge agent serving TLS) is reached through a CONNECT tunnel.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually, removeEdgeData, selfSignedCertificate, startEdge, type EdgeOptions, type EdgeProcess } from "../support/edge.js";
import { startForwardProxy, type ForwardProxy } from "../support/forward-proxy.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, basicAuthorization } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";
import { RegistryHttpClient, RemoteUnreachableError } from "../../dist/shared/remote/http-client.js";

const PROXY_USER = "edge-proxy-user";
const PROXY_PASSWORD = "Pr0xy-Pass-not-for-logs";
const WRONG_PASSWORD = "Wr0ng-Pr0xy-Pass-not-for-logs";
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** Only the proxy variables the test names: none inherited from the machine running it. */
function proxyEnv(vars: { HTTP_PROXY?: string; HTTPS_PROXY?: string; NO_PROXY?: string }): NodeJS.ProcessEnv {
  return { http_proxy: undefined, https_proxy: undefined, no_proxy: undefined, HTTP_PROXY: undefined, HTTPS_PROXY: undefined, NO_PROXY: undefined, ...vars };
}

describe("edge agent behind an outbound proxy", () => {
  let stack: TestStack;
  let management: ManagementClient;
  let cloud: AuthorizedClient;
  let readerPassword: string;
  let writerPassword: string;
  let pushedDigest: string;
  let open: ForwardProxy;
  let authenticating: ForwardProxy;
  let denying: ForwardProxy;
  const edges: EdgeProcess[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    management = new ManagementClient(stack.registryUrl);
    const adminPassword = await management.tokenWithPassword("cloudadmin", { scopeMap: "_repositories_admin" });
    cloud = new AuthorizedClient(stack.registryUrl, basicAuthorization("cloudadmin", adminPassword));
    pushedDigest = (await cloud.pushImage("apps", "v1")).digest;
    readerPassword = await management.tokenWithPassword("reader", { repositories: [{ name: "apps", actions: ["content/read", "metadata/read"] }] });
    writerPassword = await management.tokenWithPassword("writer", { repositories: [{ name: "apps", actions: ["content/read", "content/write", "metadata/read", "metadata/write"] }] });
    [open, authenticating, denying] = await Promise.all([
      startForwardProxy(),
      startForwardProxy({ basicAuth: { user: PROXY_USER, password: PROXY_PASSWORD } }),
      // An ACL that shuts out the loopback clients the agents are.
      startForwardProxy({ deny: ["127.0.0.1"] }),
    ]);
  }, 120_000);

  afterAll(async () => {
    for (const edge of edges) {
      await edge.stop();
      await removeEdgeData(edge.dataDir);
    }
    await Promise.all([open, authenticating, denying].map((proxy) => proxy?.stop()));
    await stack?.destroy();
  });

  async function edgeFor(name: string, env: NodeJS.ProcessEnv, extra: Partial<EdgeOptions> = {}, mode: "ReadOnly" | "ReadWrite" = "ReadOnly"): Promise<EdgeProcess> {
    const connectionString = await createConnectedRegistry(management, { name, mode, repositories: ["apps"], clientTokens: mode === "ReadWrite" ? ["reader", "writer"] : ["reader"] }, stack.registryHost);
    const edge = await startEdge({ connectionString, env, ...extra });
    edges.push(edge);
    return edge;
  }

  /** What the proxy logged for one connected registry's sync calls. */
  async function syncRequests(proxy: ForwardProxy, name: string): Promise<string[]> {
    return (await proxy.requests()).filter((line) => line.includes(`/sync/v1/connectedRegistries/${name}/`));
  }

  /** Every log line and the status, as one text: where a leaked password would show. */
  async function everythingSaid(edge: EdgeProcess): Promise<string> {
    return JSON.stringify(edge.logs) + JSON.stringify(await edge.status());
  }

  it("syncs through a proxy without authentication, and the proxy's log shows the sync protocol and the content", async () => {
    const edge = await edgeFor("proxied1", proxyEnv({ HTTP_PROXY: open.url }));
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync through the proxy");
    expect(edge.logs.find((line) => line.message === "connected registry serving")?.proxy).toBe(open.url);

    const atEdge = new AuthorizedClient(edge.url, basicAuthorization("reader", readerPassword));
    const manifest = await atEdge.fetch("/v2/apps/manifests/v1", { method: "HEAD", headers: { Accept: MANIFEST } });
    expect(manifest.headers.get("docker-content-digest")).toBe(pushedDigest);

    // Forwarded with absolute URIs (plain http parent): activation, the feed, and /v2/ content.
    const parent = `http://${stack.registryHost}`;
    const lines = await open.requests();
    expect(lines.some((line) => line.startsWith(`POST ${parent}/sync/v1/connectedRegistries/proxied1/activate `)), await open.log()).toBe(true);
    expect(lines.some((line) => line.startsWith(`GET ${parent}/sync/v1/connectedRegistries/proxied1/feed`))).toBe(true);
    expect(lines.some((line) => line.startsWith(`GET ${parent}/v2/apps/manifests/`))).toBe(true);
    expect(lines.some((line) => line.startsWith(`GET ${parent}/v2/apps/blobs/sha256:`))).toBe(true);
  }, 60_000);

  it("syncs through a proxy that asks for Basic credentials taken from the proxy URL, and logs no password", async () => {
    const edge = await edgeFor("proxied2", proxyEnv({ HTTP_PROXY: authenticating.urlWith(PROXY_USER, PROXY_PASSWORD) }));
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync through the authenticating proxy");
    expect((await syncRequests(authenticating, "proxied2")).length).toBeGreaterThan(0);
    const said = await everythingSaid(edge);
    expect(said).toContain(authenticating.url); // the proxy is named...
    expect(said).not.toContain(PROXY_PASSWORD); // ...without its credentials
    expect(said).not.toContain(PROXY_USER);
  }, 60_000);

  it("pushes a ReadWrite edge's local pushes up through the proxy, blobs streamed", async () => {
    const edge = await edgeFor("proxied6", proxyEnv({ HTTP_PROXY: authenticating.urlWith(PROXY_USER, PROXY_PASSWORD) }), {}, "ReadWrite");
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync through the proxy");
    const pushed = await new AuthorizedClient(edge.url, basicAuthorization("writer", writerPassword)).pushImage("apps", "from-edge");
    await eventually(async () => (await cloud.fetch("/v2/apps/manifests/from-edge", { method: "HEAD" })).headers.get("docker-content-digest") === pushed.digest, 20_000, "the edge's push in the cloud");
    const parent = `http://${stack.registryHost}`;
    const lines = await authenticating.requests();
    // Blobs go up in chunks (sync/chunked-upload.ts): a session, its PATCHes, the committing PUT.
    expect(lines.some((line) => line.startsWith(`POST ${parent}/v2/apps/blobs/uploads/ `))).toBe(true);
    expect(lines.some((line) => line.startsWith(`PATCH ${parent}/v2/apps/blobs/uploads/`))).toBe(true);
    expect(lines.some((line) => line.startsWith(`PUT ${parent}/v2/apps/blobs/uploads/`) && line.includes("?digest=sha256:"))).toBe(true);
    expect(lines.some((line) => line.startsWith(`PUT ${parent}/v2/apps/manifests/from-edge `))).toBe(true);
  }, 60_000);

  it("cannot reach the parent when the proxy refuses its credentials, and says which proxy refused", async () => {
    const edge = await edgeFor("proxied3", proxyEnv({ HTTP_PROXY: authenticating.urlWith(PROXY_USER, WRONG_PASSWORD) }));
    const status = await eventually(async () => {
      const current = await edge.status();
      return typeof current.lastError === "string" && current.lastError.includes(authenticating.url) ? current : undefined;
    }, 20_000, "an error naming the proxy");
    // tinyproxy answers a wrong password with 401 and a missing one with 407.
    expect(status.lastError).toMatch(/40[17]/);
    expect(status.activation.status).not.toBe("Active");
    expect(status.fullSyncDone).toBe(false);
    expect((await syncRequests(authenticating, "proxied3")).length).toBeGreaterThan(0);
    expect(await everythingSaid(edge)).not.toContain(WRONG_PASSWORD);
  }, 60_000);

  it("cannot reach the parent when the proxy's ACL denies it, and says which proxy refused", async () => {
    const edge = await edgeFor("proxied4", proxyEnv({ HTTP_PROXY: denying.url }));
    const status = await eventually(async () => {
      const current = await edge.status();
      return typeof current.lastError === "string" && current.lastError.includes(denying.url) ? current : undefined;
    }, 20_000, "an error naming the proxy");
    expect(status.lastError).toContain("403");
    expect(status.activation.status).not.toBe("Active");
    expect(status.fullSyncDone).toBe(false);
  }, 60_000);

  it("reaches a parent that NO_PROXY lists directly, without the proxy", async () => {
    const edge = await edgeFor("proxied5", proxyEnv({ HTTP_PROXY: open.url, NO_PROXY: `localhost,${stack.registryHost}` }));
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync around the proxy");
    expect(edge.logs.find((line) => line.message === "connected registry serving")?.proxy).toBeUndefined();
    expect(await syncRequests(open, "proxied5")).toEqual([]);
  }, 60_000);

  it("asks the parent's token server through the proxy too", async () => {
    // A refused Basic login on /v2/ makes the client ask the token server (tokenWhenDenied), as an edge does.
    const client = new RegistryHttpClient({ protocol: "http", endpoint: stack.registryHost, username: "reader", password: "not-the-password", userAgent: "proxy-test", tokenWhenDenied: true, proxy: { httpProxy: open.url, noProxy: "" } });
    try {
      const answer = await client.request("GET", "/v2/apps/manifests/v1");
      answer.body.resume();
      expect(answer.status).toBe(401);
      expect(answer.proxy).toBe(open.url);
    } finally {
      client.close();
    }
    expect((await open.requests()).some((line) => line.startsWith(`GET http://${stack.registryHost}/oauth2/token?`))).toBe(true);
  });

  it("reports a proxy that wants credentials and got none as unreachable, naming it (407)", async () => {
    const client = new RegistryHttpClient({ protocol: "http", endpoint: stack.registryHost, userAgent: "proxy-test", proxy: { httpProxy: authenticating.url, noProxy: "" } });
    try {
      const error = await client.request("GET", "/v2/").catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RemoteUnreachableError);
      expect((error as Error).message).toContain(`the proxy ${authenticating.url} refused`);
      expect((error as Error).message).toContain("407");
    } finally {
      client.close();
    }
  });

  describe("an https parent (an edge agent serving TLS), through a CONNECT tunnel", () => {
    let parent: EdgeProcess;
    let ca: string;

    beforeAll(async () => {
      const connectionString = await createConnectedRegistry(management, { name: "tlsparent", mode: "ReadOnly", repositories: ["apps"], clientTokens: ["reader"] }, stack.registryHost);
      const certificate = await selfSignedCertificate(stack.dataDir);
      ca = certificate.cert;
      parent = await startEdge({ connectionString, tls: certificate, advertise: true, env: proxyEnv({}) });
      edges.push(parent);
      await eventually(async () => (await management.call("GET", "connectedRegistries/tlsparent")).body.loginServer?.host === parent.host, 10_000, "the parent's address reported");
      await eventually(async () => (await parent.status()).fullSyncDone, 30_000, "the parent's first sync");
    }, 90_000);

    async function childEdge(name: string, env: NodeJS.ProcessEnv): Promise<EdgeProcess> {
      const connectionString = await createConnectedRegistry(management, { name, mode: "ReadOnly", parent: "tlsparent", repositories: ["apps"], clientTokens: ["reader"] });
      expect(connectionString).toContain(`ParentGatewayEndpoint=${parent.host};ParentEndpointProtocol=https`);
      const edge = await startEdge({ connectionString, env, args: ["--parent-ca", ca] });
      edges.push(edge);
      return edge;
    }

    it("syncs from it through an authenticating proxy's tunnel, the parent's certificate checked inside it", async () => {
      const edge = await childEdge("tlschild1", proxyEnv({ HTTPS_PROXY: authenticating.urlWith(PROXY_USER, PROXY_PASSWORD) }));
      await eventually(async () => (await edge.status()).fullSyncDone, 40_000, "the child's first sync through the tunnel");
      const atEdge = new AuthorizedClient(edge.url, basicAuthorization("reader", readerPassword));
      expect((await atEdge.fetch("/v2/apps/manifests/v1", { method: "HEAD", headers: { Accept: MANIFEST } })).headers.get("docker-content-digest")).toBe(pushedDigest);
      // The proxy saw only tunnels to the parent: the paths inside are TLS, hidden from it.
      expect(await authenticating.requests()).toContain(`CONNECT ${parent.host} HTTP/1.1`);
      expect(await everythingSaid(edge)).not.toContain(PROXY_PASSWORD);
    }, 60_000);

    it("cannot reach it when the proxy refuses the tunnel, and says which proxy refused", async () => {
      const edge = await childEdge("tlschild2", proxyEnv({ HTTPS_PROXY: denying.url }));
      const status = await eventually(async () => {
        const current = await edge.status();
        return typeof current.lastError === "string" && current.lastError.includes(denying.url) ? current : undefined;
      }, 20_000, "an error naming the proxy");
      expect(status.lastError).toContain(`refused a tunnel to ${parent.host} (403`);
      expect(status.fullSyncDone).toBe(false);
    }, 60_000);
  });
});
