/**
 * What the edge agent says when its setup is wrong (issue 16), against the real local
 * stack: each message names the cause and the fix, instead of a raw 401/403 or OpenSSL
 * error. One stack; the edges run at once, each with one thing wrong in its connection
 * string; and one edge whose parent goes away and comes back says "sync resumed".
 */
import { execFile } from "node:child_process";
import { createServer, connect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually, freePort, removeEdgeData, startEdge, type EdgeProcess } from "../support/edge.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, basicAuthorization } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const execFileAsync = promisify(execFile);
const CLI = join(import.meta.dirname, "../../edge-agent/dist/connected-registry.mjs");

/** A TCP forwarder to the cloud that the test can cut and restore: an outage without stopping the stack. */
class Outage {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
  }

  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

describe("edge agent messages that point the right way", () => {
  let stack: TestStack;
  let management: ManagementClient;
  const edges: EdgeProcess[] = [];
  let outage: Outage | undefined;

  const start = async (connectionString: string): Promise<EdgeProcess> => {
    const edge = await startEdge({ connectionString });
    edges.push(edge);
    return edge;
  };
  const line = (edge: EdgeProcess, pattern: RegExp) => edge.logs.find((entry) => pattern.test(String(entry.message)));

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    management = new ManagementClient(stack.registryUrl);
    const adminPassword = await management.tokenWithPassword("cloudadmin", { scopeMap: "_repositories_admin" });
    await new AuthorizedClient(stack.registryUrl, basicAuthorization("cloudadmin", adminPassword)).pushImage("hello-world", "latest");
    await management.tokenWithPassword("shopfloor", { repositories: [{ name: "hello-world", actions: ["content/read", "metadata/read"] }] });
  }, 120_000);

  afterAll(async () => {
    await outage?.cut();
    for (const edge of edges) {
      await edge.stop().catch(() => edge.kill());
      await removeEdgeData(edge.dataDir);
    }
    await stack?.destroy();
  });

  it("says to regenerate a refused sync-token password, at error level once, and a login there says the edge has not activated", async () => {
    const good = await createConnectedRegistry(management, { name: "wrongpass", repositories: ["hello-world"], clientTokens: ["shopfloor"] }, stack.registryHost);
    const edge = await start(good.replace(/SyncTokenPassword=[^;]+/, "SyncTokenPassword=not-the-password"));
    const first = await eventually(async () => line(edge, /^sync failed: /), 30_000, "a sync failure");
    expect(first).toMatchObject({ level: "error", kind: "refused" });
    expect(first.message).toContain("the parent refused the sync token's password");
    expect(first.message).toContain("regenerate it with registry-admin connected-registry get-settings --name wrongpass --generate-password 1");
    // The same failure again is a warning, not an error forever.
    const again = await eventually(async () => edge.logs.filter((entry) => /^sync failed: /.test(String(entry.message)))[1], 30_000, "a second sync failure");
    expect(again.level).toBe("warn");

    const login = await fetch(`${edge.url}/oauth2/token?service=${edge.host}&scope=repository:hello-world:pull`, { headers: { Authorization: basicAuthorization("shopfloor", "whatever") } });
    expect(login.status).toBe(401);
    const text = await login.text();
    expect(text).toContain("this connected registry has not activated with its parent yet");
    expect(text).toContain("the parent refused the sync token's password");
    const status = await edge.status();
    expect(status.lastError).toContain("regenerate it with registry-admin connected-registry get-settings");

    // A script waiting for the first sync (the README's `status --wait`) stops with the reason.
    const waited = await execFileAsync(process.execPath, [CLI, "status", "--data", edge.dataDir, "--wait", "1"]).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(waited.code).toBe(1);
    expect(waited.stderr).toMatch(/^the first sync did not finish within 1 s; last error: .*regenerate it with registry-admin connected-registry get-settings/m);
  });

  it("says the connected registry is unknown when the name in the connection string is mistyped", async () => {
    const good = await createConnectedRegistry(management, { name: "freshedge", repositories: ["hello-world"] }, stack.registryHost);
    const edge = await start(good.replace("ConnectedRegistryName=freshedge", "ConnectedRegistryName=freshedg"));
    const failure = await eventually(async () => line(edge, /^sync failed: /), 30_000, "a sync failure");
    expect(failure.message).toContain('the parent has no connected registry "freshedg" that this sync token may act for: check ConnectedRegistryName=freshedg in the connection string');
  });

  it("says the parent does not speak TLS when the connection string says https to a plain-HTTP parent", async () => {
    const good = await createConnectedRegistry(management, { name: "tlsedge", repositories: ["hello-world"] }, stack.registryHost);
    const edge = await start(good.replace("ParentEndpointProtocol=http", "ParentEndpointProtocol=https"));
    const failure = await eventually(async () => line(edge, /^sync failed: /), 30_000, "a sync failure");
    expect(failure.message).toBe("sync failed: the parent does not speak TLS: get the settings with --parent-protocol http, or give the parent a certificate");
  });

  it("says sync resumed when the parent is back after an outage", async () => {
    outage = new Outage(await freePort(), { host: "127.0.0.1", port: Number(new URL(stack.registryUrl).port) });
    await outage.open();
    const connectionString = await createConnectedRegistry(management, { name: "outageedge", repositories: ["hello-world"] }, `127.0.0.1:${outage.port}`);
    const edge = await start(connectionString);
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "the first sync");
    await outage.cut();
    await eventually(async () => line(edge, /sync failed/), 30_000, "a failure during the outage");
    expect(line(edge, /sync resumed/)).toBeUndefined();
    await outage.open();
    const resumed = await eventually(async () => line(edge, /^sync resumed$/), 30_000, "sync resumed");
    expect(resumed).toMatchObject({ level: "info", failedCycles: expect.any(Number) });
  });
});
