/**
 * An honest view from the cloud (issue 13, points 3 and 6), against the real local stack and
 * real edge agents: the garbage-collection and bandwidth settings (validated, carried to the
 * edge), an operator's resync (the edge walks again), a slow first sync reported as Syncing
 * with progress and never silent long enough to look Offline, a stopped agent shown Offline
 * after the sweep, and an edge condition shown in the cloud with its correlation id.
 */
import { execFile, type ExecFileException } from "node:child_process";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCosmosClient } from "../../shared/composition.js";
import { CosmosConnectedRegistryStore } from "../../shared/store/cosmos/connected-registry-store.js";
import { IDENTITY_CONTAINER } from "../../shared/store/cosmos/containers.js";
import { SILENCE_BEFORE_OFFLINE_MS, markSilentRegistriesOffline } from "../../shared/sync/health-sweep.js";
import { createConnectedRegistry, eventually, removeEdgeData, startEdge, type EdgeProcess } from "../support/edge.js";
import { clientToken, parentLink, pushRandomImage, tagsAt, writeActions, type ParentLink } from "../support/edge-e2e.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, basicAuthorization } from "../support/registry-client.js";
import { startTestStack, TEST_ADMIN_KEY, type TestStack } from "../support/stack.js";

const execFileAsync = promisify(execFile);
const CLI = join(import.meta.dirname, "../../dist/scripts/admin-cli/main.js");
const ACCEPT = "application/vnd.oci.image.manifest.v1+json";

describe("the cloud's view of its edges: settings, resync, status", () => {
  let stack: TestStack;
  let management: ManagementClient;
  let cloud: AuthorizedClient;
  let store: CosmosConnectedRegistryStore;
  let readerPassword: string;
  const edges: EdgeProcess[] = [];
  const links: ParentLink[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    management = new ManagementClient(stack.registryUrl);
    cloud = new AuthorizedClient(stack.registryUrl, basicAuthorization("statusadmin", await management.tokenWithPassword("statusadmin", { scopeMap: "_repositories_admin" })));
    readerPassword = await management.tokenWithPassword("statusreader", { scopeMap: "_repositories_pull" });
    store = new CosmosConnectedRegistryStore(createCosmosClient(stack.config).database(stack.config.COSMOS_DATABASE).container(IDENTITY_CONTAINER.id), stack.config.REGISTRY_NAME);
  }, 120_000);

  afterAll(async () => {
    if (process.env.EDGE_DEBUG) for (const edge of edges) console.log(JSON.stringify(edge.logs.filter((l) => l.level !== "debug"), null, 1));
    for (const edge of edges) {
      await edge.stop();
      await removeEdgeData(edge.dataDir);
    }
    for (const link of links) await link.close();
    await stack?.destroy();
  });

  /** Runs the built registry-admin; never throws for a non-zero exit. */
  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args], {
        env: { PATH: process.env.PATH, REGISTRY_ENDPOINT: stack.registryUrl, REGISTRY_ADMIN_KEY: TEST_ADMIN_KEY },
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as ExecFileException & { stdout: string; stderr: string };
      return { code: Number(failed.code), stdout: failed.stdout, stderr: failed.stderr };
    }
  }

  async function shown(name: string): Promise<any> {
    const answer = await management.call("GET", `connectedRegistries/${name}`);
    expect(answer.status).toBe(200);
    return answer.body;
  }

  async function edgeConfiguration(edge: EdgeProcess): Promise<any> {
    return JSON.parse(await readFile(join(edge.dataDir, "state.json"), "utf8")).configuration;
  }

  it("refuses a bad garbage-collection schedule or sync bandwidth with a 400 naming it, and changes nothing", async () => {
    const badCron = await management.call("POST", "connectedRegistries", { name: "gcbadcron1", repositories: ["status/a"], garbageCollection: { schedule: "0 3 * *" } });
    expect(badCron.status).toBe(400);
    expect(badCron.body.error.message).toContain("garbageCollection.schedule");
    expect(badCron.body.error.message).toContain('"0 3 * *"');
    const badRate = await management.call("POST", "connectedRegistries", { name: "gcbadrate1", repositories: ["status/a"], syncBandwidth: "fast" });
    expect(badRate.status).toBe(400);
    expect(badRate.body.error.message).toMatch(/syncBandwidth: "fast" is not a bandwidth/);
    expect((await management.call("GET", "connectedRegistries/gcbadcron1")).status).toBe(404);
    expect((await management.call("GET", "connectedRegistries/gcbadrate1")).status).toBe(404);
    // Neither left its sync token behind.
    expect((await management.call("GET", "tokens/gcbadrate1-sync-token")).status).toBe(404);

    const created = await management.call("POST", "connectedRegistries", { name: "gcsettings1", repositories: ["status/a"] });
    expect(created.status).toBe(201);
    // Defaults: collection on, daily; no bandwidth cap.
    expect(created.body).toMatchObject({ garbageCollection: { enabled: true, schedule: "0 3 * * *" }, syncBandwidth: null, resync: null });
    const before = await shown("gcsettings1");

    const cliBadCron = await cli("connected-registry", "update", "--name", "gcsettings1", "--gc-schedule", "61 * * * *");
    expect(cliBadCron.code).not.toBe(0);
    expect(cliBadCron.stderr).toContain("garbageCollection.schedule");
    const cliBadRate = await cli("connected-registry", "update", "--name", "gcsettings1", "--gc-enabled", "false", "--sync-bandwidth", "20 furlongs");
    expect(cliBadRate.code).not.toBe(0);
    expect(cliBadRate.stderr).toContain("syncBandwidth");
    // The valid half of a refused update (--gc-enabled false) did not land either.
    expect(await shown("gcsettings1")).toEqual(before);

    const updated = await cli("connected-registry", "update", "--name", "gcsettings1", "--gc-enabled", "false", "--gc-schedule", "30 1 * * 6", "--sync-bandwidth", "20Mbps", "-o", "json");
    expect(updated.code, updated.stderr).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ garbageCollection: { enabled: false, schedule: "30 1 * * 6" }, syncBandwidth: "20Mbps" });
    const table = await cli("connected-registry", "show", "--name", "gcsettings1");
    expect(table.stdout).toMatch(/Garbage collection\s+disabled, schedule 30 1 \* \* 6/);
    expect(table.stdout).toMatch(/Sync bandwidth\s+20Mbps/);
    const cleared = await cli("connected-registry", "update", "--name", "gcsettings1", "--sync-bandwidth", "", "-o", "json");
    expect(JSON.parse(cleared.stdout)).toMatchObject({ syncBandwidth: null, garbageCollection: { enabled: false, schedule: "30 1 * * 6" } });
  });

  it("carries the settings to the edge, and a resync makes it walk again: a tag deleted behind its back comes back, nothing is downloaded twice", async () => {
    await pushRandomImage(cloud, "status/resync", "v1", [64 * 1024]);
    await pushRandomImage(cloud, "status/resync", "v2", [64 * 1024]);
    const connectionString = await createConnectedRegistry(management, { name: "resyncedge1", mode: "ReadOnly", repositories: ["status/resync"], clientTokens: ["statusreader"] });
    // Without pull-through: the client's GET of the removed tag must not bring it back before the resync does.
    const edge = await startEdge({ connectionString, args: ["--no-pull-through"] });
    edges.push(edge);
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync");
    await eventually(async () => (await shown("resyncedge1")).lastSyncTrigger === "initial", 20_000, "the initial trigger shown in the cloud");
    expect((await edgeConfiguration(edge)).garbageCollection).toEqual({ enabled: true, schedule: "0 3 * * *" });

    // A changed setting changes the configuration's version: the edge reads it again.
    expect((await cli("connected-registry", "update", "--name", "resyncedge1", "--gc-schedule", "15 4 * * *", "--sync-bandwidth", "5MB/s")).code).toBe(0);
    await eventually(async () => {
      const configuration = await edgeConfiguration(edge);
      return configuration.garbageCollection.schedule === "15 4 * * *" && configuration.syncBandwidth === "5MB/s";
    }, 20_000, "the new settings at the edge");

    const edgeReader = new AuthorizedClient(edge.url, basicAuthorization("statusreader", readerPassword));
    expect((await edgeReader.fetch("/v2/status/resync/manifests/v1", { headers: { Accept: ACCEPT } })).status).toBe(200);
    const fetchedBefore = (await edge.status()).progress.bytesFetched;
    // Behind the agent's back: the tag's file goes from the data folder. The feed has no news of it.
    await rm(join(edge.dataDir, "metadata/repositories/status/resync/_tags/v1.json"));
    expect((await edgeReader.fetch("/v2/status/resync/manifests/v1", { headers: { Accept: ACCEPT } })).status).toBe(404);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect((await edgeReader.fetch("/v2/status/resync/manifests/v1", { headers: { Accept: ACCEPT } })).status).toBe(404);

    const resync = await cli("connected-registry", "resync", "--name", "resyncedge1", "-o", "json");
    expect(resync.code, resync.stderr).toBe(0);
    const request = JSON.parse(resync.stdout).resync as string;
    expect(request).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{8}$/);
    await eventually(async () => (await edgeReader.fetch("/v2/status/resync/manifests/v1", { headers: { Accept: ACCEPT } })).status === 200, 30_000, "the tag back at the edge");
    await eventually(async () => (await shown("resyncedge1")).lastSyncTrigger === "manual", 20_000, "the manual trigger shown in the cloud");
    // The tag is written before the walk's end (referrers, reconciliation, the request recorded).
    await eventually(async () => edge.logs.some((line) => line.message === "resync finished" && line.request === request), 20_000, "the resync walk finished");
    // The blobs were there: the walk wrote the tag again without fetching them.
    expect((await edge.status()).progress.bytesFetched).toBe(fetchedBefore);
    // Done once per request: later cycles do not walk again.
    const walks = edge.logs.filter((line) => line.message === "resync requested by the operator: walking every repository").length;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(edge.logs.filter((line) => line.message === "resync requested by the operator: walking every repository").length).toBe(walks);
    expect(walks).toBe(1);
  }, 120_000);

  it("shows a slow first sync as Syncing with progress, never silent long enough to be swept Offline; a stopped agent is swept Offline", async () => {
    const layer = 12 * 1024 * 1024;
    await pushRandomImage(cloud, "status/big", "v1", [layer]);
    // 12 MiB under the agent's own bandwidth cap of 300 KiB/s: about 40 s for one blob, longer than a heartbeat interval twice over.
    const connectionString = await createConnectedRegistry(management, { name: "slowedge01", mode: "ReadOnly", repositories: ["status/big"] });
    const edge = await startEdge({ connectionString, args: ["--max-bandwidth", "300KiB/s"] });
    edges.push(edge);

    const activity: number[] = [];
    const seen: any[] = [];
    const started = Date.now();
    let swept: string[] = [];
    for (;;) {
      const record = await shown("slowedge01");
      // From the handshake on (created records are Offline until their edge activates).
      if (record.activation.status === "Active") {
        seen.push(record);
        activity.push(Date.parse(record.lastActivityTime));
      }
      // A sweep that marks anything silent for 30 s (a 5-minute limit reached 4.5 minutes early) never marks it.
      swept = swept.concat(await markSilentRegistriesOffline(store, Date.now() + SILENCE_BEFORE_OFFLINE_MS - 30_000, () => {}));
      if ((await edge.status()).fullSyncDone) break;
      expect(Date.now() - started).toBeLessThan(120_000);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const lasted = Date.now() - started;
    expect(lasted).toBeGreaterThan(35_000);
    expect(swept).not.toContain("slowedge01");
    expect(seen.map((record) => record.connectionState)).not.toContain("Offline");
    const syncing = seen.filter((record) => record.connectionState === "Syncing");
    expect(syncing.length).toBeGreaterThan(0);
    const last = syncing[syncing.length - 1];
    expect(last.syncProgress).toMatchObject({ phase: "full-sync", objectsTotal: 1 });
    expect(last.syncProgress.bytesTotal).toBeGreaterThanOrEqual(layer);
    expect(last.syncProgress.bytesDone).toBeGreaterThan(0);
    expect(last.syncProgress.bytesDone).toBeLessThan(last.syncProgress.bytesTotal);
    // Progress grew between reports while the one blob came down.
    expect(new Set(syncing.map((record) => record.syncProgress.bytesDone)).size).toBeGreaterThan(1);
    // Activity was refreshed during the download, never more than 30 s apart.
    const distinct = [...new Set(activity)];
    expect(distinct.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < distinct.length; i++) expect(distinct[i]! - distinct[i - 1]!).toBeLessThanOrEqual(30_000);

    const done = await eventually(async () => {
      const record = await shown("slowedge01");
      return record.connectionState === "Online" && record.usage?.bytes >= layer ? record : undefined;
    }, 20_000, "Online with the usage after the sync");
    expect(done).toMatchObject({ lastSyncTrigger: "initial", syncProgress: null, lag: { changes: 0 }, usage: { repositories: 1 } });
    expect(done.usage.freeBytes).toBeGreaterThan(0);
    const listed = await cli("connected-registry", "list");
    expect(listed.stdout).toMatch(/slowedge01\s+.*Online.*initial/);

    await edge.stop();
    expect(await markSilentRegistriesOffline(store, Date.now() + SILENCE_BEFORE_OFFLINE_MS + 1000, () => {})).toContain("slowedge01");
    expect((await shown("slowedge01")).connectionState).toBe("Offline");
  }, 180_000);

  it("ReadWrite: a repository leaving the scope keeps the local tags not yet pushed up and drops the parent's", async () => {
    const leaving = "scope/leaving";
    const staying = "scope/staying";
    await pushRandomImage(cloud, leaving, "fromcloud");
    await pushRandomImage(cloud, staying, "v1");
    const writer = await clientToken(management, "scopewriter", [...writeActions(leaving), ...writeActions(staying)]);
    const link = await parentLink(stack.registryHost, links);
    const connectionString = await createConnectedRegistry(
      management,
      { name: "scopeedge1", mode: "ReadWrite", repositories: [leaving, staying], clientTokens: [writer.username] },
      link.host,
    );
    const edge = await startEdge({ connectionString });
    edges.push(edge);
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync");
    expect(await tagsAt(edge.url, writer, leaving)).toEqual(["fromcloud"]);

    // Pushed here while the parent is out of reach: it cannot have gone up.
    link.cut();
    await eventually(async () => Boolean((await edge.status()).lastError), 30_000, "the edge notices the parent is unreachable");
    await pushRandomImage(new AuthorizedClient(edge.url, basicAuthorization(writer.username, writer.password)), leaving, "local");
    expect((await management.call("POST", "connectedRegistries/scopeedge1/permissions", { removeRepositories: [leaving] })).status).toBe(200);
    // The feed reuses a configuration version for 5 s (shared/sync/handler.ts): past that, the first feed read carries the change.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    link.restore();

    await eventually(async () => edge.logs.some((line) => line.message === "repository left the scope: its tags were removed"), 30_000, "the scope change at the edge");
    const removal = edge.logs.find((line) => line.message === "repository left the scope: its tags were removed");
    expect(removal).toMatchObject({ repository: leaving, keptUnpushedLocalTags: ["local"] });
    expect(await tagsAt(edge.url, writer, leaving)).toEqual(["local"]);
    // The upstream push is refused for the repository (no longer the sync token's) and moves on: syncing goes on, healthy.
    await eventually(async () => {
      const record = await shown("scopeedge1");
      return record.connectionState === "Online" && !(await edge.status()).lastError;
    }, 30_000, "the edge healthy after the scope change");
    expect(await tagsAt(edge.url, writer, leaving)).toEqual(["local"]);
    expect(await tagsAt(edge.url, writer, staying)).toEqual(["v1"]);
  }, 120_000);

  it("shows an edge condition in statusDetails with the correlation id the edge logged, until it clears", async () => {
    await pushRandomImage(cloud, "status/cert", "v1");
    const connectionString = await createConnectedRegistry(management, { name: "certedge01", mode: "ReadOnly", repositories: ["status/cert"] });
    const dir = join(stack.dataDir, "cert-edge");
    await mkdir(dir, { recursive: true });
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const certificate = async (days: number): Promise<void> => {
      await execFileAsync("openssl", [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", String(days),
        "-keyout", `${key}.new`, "-out", `${cert}.new`, "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
      ]);
      // As cert-manager does: the new pair replaces the old by rename.
      await rename(`${key}.new`, key);
      await rename(`${cert}.new`, cert);
    };
    await certificate(5);
    const edge = await startEdge({ connectionString, tls: { cert, key }, args: ["--tls-check-interval", "1"] });
    edges.push(edge);

    const expiring = await eventually(async () => {
      const record = await shown("certedge01");
      return record.statusDetails.find((detail: any) => detail.code === "CERTIFICATE_EXPIRING");
    }, 30_000, "CERTIFICATE_EXPIRING in the cloud");
    expect(expiring.description).toMatch(/expires at .* in 5 day/);
    expect(expiring.correlationId).toMatch(/^[0-9a-f]{16}$/);
    expect((await shown("certedge01")).connectionState).toBe("Unhealthy");
    const logged = edge.logs.find((line) => line.message === "condition reported to the parent" && line.code === "CERTIFICATE_EXPIRING");
    expect(logged?.correlationId).toBe(expiring.correlationId);
    const table = await cli("connected-registry", "show", "--name", "certedge01");
    expect(table.stdout).toMatch(/Status codes\s+CERTIFICATE_EXPIRING/);
    expect(table.stdout).toContain(`(correlation id ${expiring.correlationId})`);

    await certificate(90);
    await eventually(async () => {
      const record = await shown("certedge01");
      return record.statusDetails.length === 0 && record.connectionState === "Online";
    }, 30_000, "the condition cleared in the cloud");
    expect(edge.logs.some((line) => line.message === "condition cleared and reported to the parent" && line.correlationId === expiring.correlationId)).toBe(true);

    // An idle edge only reads its feed between heartbeats (every 30 s): a feed read alone brings a swept edge back.
    expect(await markSilentRegistriesOffline(store, Date.now() + SILENCE_BEFORE_OFFLINE_MS + 1000, () => {})).toContain("certedge01");
    await eventually(async () => (await shown("certedge01")).connectionState === "Online", 5_000, "Online again after a feed read");
  }, 120_000);
});
