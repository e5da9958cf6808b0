/**
 * Scripts written for ACR's connected registry carry over (issue 12, item 7), with the real
 * agent against the local stack: it starts from ACR's variable ACR_REGISTRY_CONNECTION_STRING;
 * from --connection-string-file, with the sync token's password in neither its command line
 * (what `ps` shows) nor its environment; and with `logging: None` on the connected registry it
 * writes no log at all while an error still reaches its status.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually, removeEdgeData, startEdge, type EdgeProcess } from "../support/edge.js";
import { ManagementClient } from "../support/management-client.js";
import { writeDockerDirImage } from "../support/oci-layout.js";
import { basicAuthorization } from "../support/registry-client.js";
import { Skopeo } from "../support/skopeo.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const SYNC_TIMEOUT_MS = 90_000;

describe("the edge agent takes what ACR's scripts give it", () => {
  let stack: TestStack;
  let management: ManagementClient;
  let skopeo: Skopeo;
  let work: string;
  let reader: { username: string; password: string };
  let imageDigest: string;
  const edges: EdgeProcess[] = [];

  beforeAll(async () => {
    [stack, skopeo] = await Promise.all([startTestStack({ anonymous: false }), Skopeo.create()]);
    management = new ManagementClient(stack.registryUrl);
    work = await mkdtemp(join(tmpdir(), "edge-acr-"));
    const admin = { username: "acradmin", password: await management.tokenWithPassword("acradmin", { scopeMap: "_repositories_admin" }) };
    const image = await writeDockerDirImage(join(work, "image"), { seed: "edge-acr/app" });
    imageDigest = image.manifestDigest;
    await skopeo.copy(`dir:${image.dir}`, `docker://${stack.registryHost}/acr-app:v1`, admin);
    expect((await management.call("POST", "scopeMaps", { name: "acrappread", actions: ["repositories/acr-app/content/read", "repositories/acr-app/metadata/read"] })).status).toBe(201);
    reader = { username: "acrreader", password: await management.tokenWithPassword("acrreader", { scopeMap: "acrappread" }) };
  });

  afterEach(async () => {
    for (const edge of edges.splice(0)) {
      await edge.kill();
      await removeEdgeData(edge.dataDir);
    }
  });

  afterAll(async () => {
    await skopeo?.dispose();
    await stack?.destroy();
    await rm(work, { recursive: true, force: true });
  });

  const newEdge = (name: string, extra: { logging?: string } = {}): Promise<string> =>
    createConnectedRegistry(management, { name, mode: "ReadOnly", repositories: ["acr-app"], clientTokens: ["acrreader"], ...extra }, stack.registryHost);

  const synced = (edge: EdgeProcess): Promise<Record<string, any>> =>
    eventually(async () => {
      const status = await edge.status();
      return status.fullSyncDone && status.lastSyncTime ? status : undefined;
    }, SYNC_TIMEOUT_MS, "fully synced");

  /** The image, pulled through the edge with the client token: the sync really happened. */
  const servedDigest = async (edge: EdgeProcess): Promise<string | null> =>
    (
      await fetch(`${edge.url}/v2/acr-app/manifests/v1`, {
        headers: { Authorization: basicAuthorization(reader.username, reader.password), Accept: "application/vnd.docker.distribution.manifest.v2+json" },
      })
    ).headers.get("docker-content-digest");

  it("starts from ACR_REGISTRY_CONNECTION_STRING, as get-settings' ACR key names it", async () => {
    await newEdge("acrenv01");
    const settings = await management.call("POST", "connectedRegistries/acrenv01/settings", { parentProtocol: "http", generatePassword: 2 });
    const edge = await startEdge({ env: { ACR_REGISTRY_CONNECTION_STRING: settings.body.ACR_REGISTRY_CONNECTION_STRING.replace(/ParentGatewayEndpoint=[^;]+/, `ParentGatewayEndpoint=${stack.registryHost}`) } });
    edges.push(edge);
    expect(await synced(edge)).toMatchObject({ name: "acrenv01", activation: { status: "Active" } });
    expect(await servedDigest(edge)).toBe(imageDigest);
  });

  it("reads the connection string from a file, so the password is in neither its command line nor its environment", async () => {
    const connectionString = await newEdge("acrfile01");
    const password = /SyncTokenPassword=([^;]+)/.exec(connectionString)![1]!;
    const file = join(work, "acrfile01.connection");
    await writeFile(file, `${connectionString}\n`, { mode: 0o600 });
    const edge = await startEdge({ args: ["--connection-string-file", file] });
    edges.push(edge);
    expect(await synced(edge)).toMatchObject({ name: "acrfile01", activation: { status: "Active" } });
    expect(await servedDigest(edge)).toBe(imageDigest);
    // What `ps -ef` and `ps e` read.
    const commandLine = (await readFile(`/proc/${edge.child.pid}/cmdline`)).toString("utf8");
    expect(commandLine).toContain("--connection-string-file");
    expect(commandLine).not.toContain(password);
    expect((await readFile(`/proc/${edge.child.pid}/environ`)).toString("utf8")).not.toContain(password);
    expect(JSON.stringify(edge.logs)).not.toContain(password);
  });

  it("logs nothing when the connected registry's logging is None, and an error still reaches its status", async () => {
    const connectionString = await newEdge("acrquiet01", { logging: "None" });
    const first = await startEdge({ connectionString });
    edges.push(first);
    await synced(first);
    const dataDir = first.dataDir;
    await first.stop();
    edges.splice(edges.indexOf(first), 1);

    // Restarted, the agent knows its parent's setting from the first start: not one line, from start to stop.
    let written = "";
    const edge = await startEdge({ connectionString, dataDir, quiet: true });
    edges.push(edge);
    edge.child.stderr!.on("data", (chunk: Buffer) => (written += chunk.toString("utf8")));
    const before = await synced(edge);
    expect(await servedDigest(edge)).toBe(imageDigest);

    // The sync token's password is replaced in the cloud: a sync is refused once the cloud's
    // token cache (TOKEN_STATE_SECONDS, 30 s) lets the old password go.
    expect((await management.call("POST", "connectedRegistries/acrquiet01/settings", { parentProtocol: "http", generatePassword: 1 })).status).toBe(200);
    const failing = await eventually(async () => {
      const status = await edge.status();
      return status.lastError ? status : undefined;
    }, 90_000, "the refused sync in GET /status");
    expect(failing.lastError).toMatch(/401|unauthori[sz]ed|credentials|password/i);
    expect(before.lastError).toBeUndefined();
    await edge.stop();
    edges.splice(edges.indexOf(edge), 1);
    expect(edge.logs).toEqual([]);
    expect(written).toBe("");
    await removeEdgeData(dataDir);
  });
});
