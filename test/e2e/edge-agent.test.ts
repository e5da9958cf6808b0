/**
 * End-to-end tests of the edge agent (issue 5, "Done when"): real processes and real
 * clients. The cloud is the local stack with authentication on; the agent runs as the
 * built CLI (`connected-registry start`, test/support/edge.ts); images go in and out with
 * skopeo and podman, and content is checked byte for byte with plain HTTP (Basic
 * credentials of a client token) where a client would hide a detail.
 *
 * Everything is set up the way an operator would: scope maps, tokens and connected
 * registries through the management API (admin key), images pushed to the cloud with a
 * token on `_repositories_admin`. Every test has its own connected registries (names of
 * 5-50 letters and digits), repositories, tokens and data folders, and leaves no process
 * behind.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FsMetadataStore } from "../../dist/edge-agent/src/store/fs-metadata-store.js";
import { createConnectedRegistry, eventually, removeEdgeData, startEdge, type EdgeOptions, type EdgeProcess } from "../support/edge.js";
import { ManagementClient } from "../support/management-client.js";
import { tarWithOneFile, writeDockerDirImage, writeMultiArchOciLayout } from "../support/oci-layout.js";
import { Podman } from "../support/podman.js";
import { AuthorizedClient, OCI_INDEX, sha256 } from "../support/registry-client.js";
import { ACCEPT, basic, clientToken, digestAt, DOCKER_LIST, expectStatus, getManifest, parentLink, pushRandomImage, readActions, registryFetch, tagsAt, type ParentLink } from "../support/edge-e2e.js";
import { Skopeo, type Credentials } from "../support/skopeo.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const execFileAsync = promisify(execFile);
/** The package's bin (the one-file bundle, npm run build:edge), as an installed `connected-registry` runs it. */
const BIN = join(import.meta.dirname, "../../edge-agent/dist/connected-registry.mjs");

const INDEX_TYPES = new Set([OCI_INDEX, DOCKER_LIST]);

/** What registry clients print when the registry refuses credentials or access. */
const REFUSED = /denied|unauthorized|authentication required|invalid username\/password/i;

const SLOW_TEST_MS = 240_000;
const SYNC_TIMEOUT_MS = 90_000;
/** "Within a few seconds" of a push, with the agent reading the feed every 0.5 s (startEdge). */
const CONTINUOUS_LAG_LIMIT_MS = 10_000;

/** What the processes and folders a test started, so afterEach can end them whatever happened. */
const edges: EdgeProcess[] = [];
const podmans: Podman[] = [];
const folders: string[] = [];
const proxies: ParentLink[] = [];

async function cleanUp(): Promise<void> {
  for (const proxy of proxies.splice(0)) await proxy.close();
  // Every agent ends before any folder goes: a restarted agent shares its folder with the one
  // before it, and removing the folder while the later one still writes fails with ENOTEMPTY.
  const ended = edges.splice(0);
  for (const edge of ended) await edge.kill().catch(() => {});
  for (const dataDir of new Set(ended.map((edge) => edge.dataDir))) await removeEdgeData(dataDir);
  for (const podman of podmans.splice(0)) await podman.dispose().catch(() => {});
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
}

async function edgeProcess(connectionString: string, dataDir?: string, options: Omit<EdgeOptions, "connectionString" | "dataDir"> = {}): Promise<EdgeProcess> {
  const edge = await startEdge({ connectionString, ...(dataDir ? { dataDir } : {}), ...options });
  edges.push(edge);
  return edge;
}

async function newPodman(): Promise<Podman> {
  const podman = await Podman.create();
  podmans.push(podman);
  return podman;
}

async function workFolder(prefix: string): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), `edge-e2e-${prefix}-`));
  folders.push(folder);
  return folder;
}

/**
 * Reads the image at `reference` the way a client pulls it, every platform of an index,
 * and checks every byte: each manifest hashes to its digest (the tag's to `expectedDigest`),
 * each blob is served whole and hashes to its digest. Returns the digests it checked.
 */
async function verifyImage(
  baseUrl: string,
  creds: Credentials,
  repository: string,
  reference: string,
  expectedDigest: string,
): Promise<{ manifests: string[]; blobs: string[] }> {
  const checked = { manifests: [] as string[], blobs: [] as string[] };
  const visit = async (ref: string, expected: string): Promise<void> => {
    const manifest = await getManifest(baseUrl, creds, repository, ref);
    expect(manifest.status, `GET ${repository}/manifests/${ref}: ${manifest.bytes.toString("utf8").slice(0, 300)}`).toBe(200);
    expect(manifest.digest, `the bytes of ${repository}/manifests/${ref}`).toBe(expected);
    checked.manifests.push(expected);
    const body = JSON.parse(manifest.bytes.toString("utf8")) as {
      mediaType?: string;
      manifests?: Array<{ digest: string }>;
      config?: { digest: string; size: number };
      layers?: Array<{ digest: string; size: number }>;
    };
    if (INDEX_TYPES.has(body.mediaType ?? manifest.mediaType) || body.manifests) {
      for (const child of body.manifests ?? []) await visit(child.digest, child.digest);
      return;
    }
    for (const blob of [body.config!, ...(body.layers ?? [])]) {
      const response = await registryFetch(baseUrl, `/v2/${repository}/blobs/${blob.digest}`, creds);
      const bytes = Buffer.from(await response.arrayBuffer());
      expect(response.status, `GET ${repository}/blobs/${blob.digest}`).toBe(200);
      expect(bytes.length, `size of ${repository}/blobs/${blob.digest}`).toBe(blob.size);
      expect(sha256(bytes), `content of ${repository}/blobs/${blob.digest}`).toBe(blob.digest);
      checked.blobs.push(blob.digest);
    }
  };
  await visit(reference, expectedDigest);
  return checked;
}

/** Until GET /status says the full sync is done and a sync cycle completed (after `after`, when given). */
function waitSynced(edge: EdgeProcess, what: string, after?: string): Promise<Record<string, any>> {
  return eventually(
    async () => {
      const status = await edge.status();
      if (!status.fullSyncDone || !status.lastSyncTime) return undefined;
      if (after && !(String(status.lastSyncTime) > after)) return undefined;
      return status;
    },
    SYNC_TIMEOUT_MS,
    `${what}: fully synced (GET /status fullSyncDone and lastSyncTime${after ? ` after ${after}` : ""})`,
  );
}

/**
 * Reads a stopped (or killed) agent's data folder directly, as the next start will: every
 * tag must point at a manifest whose blobs (and, for an index, platform manifests) are all
 * present under blobs/ with the right content. This is what "never a tag or manifest whose
 * content is missing" (docs/edge-agent.md) means on disk. Returns the tags it found.
 */
async function checkDataFolderConsistent(dataDir: string, repository: string): Promise<Map<string, string>> {
  const metadata = new FsMetadataStore(join(dataDir, "metadata"));
  const blobOk = new Map<string, boolean>();
  const blobPresentAndCorrect = async (digest: string): Promise<boolean> => {
    if (!blobOk.has(digest)) {
      const file = join(dataDir, "blobs", "sha256", digest.slice("sha256:".length));
      const bytes = await readFile(file).catch(() => undefined);
      blobOk.set(digest, bytes !== undefined && sha256(bytes) === digest);
    }
    return blobOk.get(digest)!;
  };
  const problems: string[] = [];
  const checkManifest = async (digest: string, via: string): Promise<void> => {
    const record = await metadata.getManifest(repository, digest);
    if (!record) {
      problems.push(`${via}: manifest ${digest} is missing`);
      return;
    }
    for (const blob of record.blobDigests) if (!(await blobPresentAndCorrect(blob))) problems.push(`${via}: blob ${blob} of ${digest} is missing or wrong`);
    for (const child of record.manifestDigests) await checkManifest(child, `${via} -> ${digest}`);
  };
  const tags = new Map<string, string>();
  let after: string | undefined;
  for (;;) {
    const page = await metadata.listTags(repository, { limit: 1000, after });
    for (const tag of page) {
      const record = await metadata.getTaggedManifest(repository, tag);
      if (!record) continue;
      tags.set(tag, record.digest);
      await checkManifest(record.digest, `${repository}:${tag}`);
    }
    if (page.length < 1000) break;
    after = page[page.length - 1];
  }
  expect(problems, "tags in the killed agent's data folder whose content is not all there").toEqual([]);
  return tags;
}

/**
 * Like `eventually`, polling every few milliseconds: for catching the agent in the middle
 * of a step that may take well under a second (a download from a fast local parent).
 */
async function pollFast<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what} not reached in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** `connected-registry status --output json` on the agent's data folder (what the operator of the edge machine reads). */
async function statusJson(edge: EdgeProcess): Promise<Record<string, any>> {
  const { stdout } = await execFileAsync(process.execPath, [BIN, "status", "--data", edge.dataDir, "--output", "json"]);
  return JSON.parse(stdout) as Record<string, any>;
}

/** Total bytes the agent process fetched from its parent since it started (/metrics). */
async function fetchedBytes(edge: EdgeProcess): Promise<number> {
  const text = await (await fetch(`${edge.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("connected_registry_sync_fetched_bytes_total"));
  return line ? Number(line.split(/\s+/)[1]) : 0;
}

async function filesIn(dir: string): Promise<Array<{ name: string; size: number }>> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: Array<{ name: string; size: number }> = [];
  for (const name of names) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info?.isFile()) out.push({ name, size: info.size });
  }
  return out;
}

/** A cloud set up as an operator would: the admin key for management, a push token on `_repositories_admin`. */
interface Cloud {
  stack: TestStack;
  management: ManagementClient;
  admin: Credentials;
  /** Speaks /v2/ to the cloud with the admin token's Basic credentials. */
  pusher: AuthorizedClient;
}

async function startCloud(adminToken: string): Promise<Cloud> {
  const stack = await startTestStack({ anonymous: false });
  const management = new ManagementClient(stack.registryUrl);
  const admin = { username: adminToken, password: await management.tokenWithPassword(adminToken, { scopeMap: "_repositories_admin" }) };
  return { stack, management, admin, pusher: new AuthorizedClient(stack.registryUrl, basic(admin)) };
}


describe("edge agent end to end (real processes, real clients)", () => {
  let cloud: Cloud;
  let skopeo: Skopeo;

  beforeAll(async () => {
    cloud = await startCloud("edgeadmin");
    skopeo = await Skopeo.create();
  });

  afterAll(async () => {
    await cleanUp();
    await cloud?.stack.destroy();
    await skopeo?.dispose();
  });

  afterEach(cleanUp);

  it(
    "runs the product's quickstart: podman login and pull at the edge with a client token; other repositories and pushes are refused",
    async () => {
      const { stack, management, admin } = cloud;
      const work = await workFolder("quickstart");

      // The images, in the cloud: hello-world:latest is a two-platform index, as the real one.
      const helloWorld = await writeMultiArchOciLayout(join(work, "hello-world"), { tag: "latest", seed: "edge-e2e/quickstart/hello-world" });
      await skopeo.copy(`oci:${helloWorld.dir}:latest`, `docker://${stack.registryHost}/hello-world:latest`, admin, ["--all"]);
      const other = await writeDockerDirImage(join(work, "other"), { seed: "edge-e2e/quickstart/other" });
      await skopeo.copy(`dir:${other.dir}`, `docker://${stack.registryHost}/quickstart-other:v1`, admin);

      // The quickstart: a scope map and client token for hello-world, a ReadOnly connected
      // registry with it, get-settings with a new password. A second client token reads the
      // other repository, which proves it is synced too (so the refusal below is about scope).
      await expectStatus(management.call("POST", "scopeMaps", { name: "helloworldread", actions: readActions("hello-world") }), 201);
      const shopfloor = { username: "shopfloor", password: await management.tokenWithPassword("shopfloor", { scopeMap: "helloworldread" }) };
      const otherReader = await clientToken(management, "quickstartotherreader", readActions("quickstart-other"));
      const connectionString = await createConnectedRegistry(
        management,
        { name: "quickstart", mode: "ReadOnly", repositories: ["hello-world", "quickstart-other"], clientTokens: ["shopfloor", "quickstartotherreader"] },
        stack.registryHost,
      );
      expect(connectionString).toMatch(/^ConnectedRegistryName=quickstart;SyncTokenName=quickstart-sync-token;SyncTokenPassword=[^;]+;ParentGatewayEndpoint=/);

      const edge = await edgeProcess(connectionString);
      const status = await waitSynced(edge, "quickstart");
      expect(status).toMatchObject({ name: "quickstart", mode: "ReadOnly", activation: { status: "Active" } });
      // GET /status needs no credentials: it counts client tokens without naming them.
      expect(status.clientTokens).toBe(2);
      expect(JSON.stringify(status)).not.toContain("shopfloor");
      // The cloud sees the edge too.
      const record = await expectStatus(management.call("GET", "connectedRegistries/quickstart"), 200);
      expect(record.activation.status).toBe("Active");

      const podman = await newPodman();
      const login = await podman.login(edge.host, shopfloor.username, shopfloor.password);
      expect(login.code, login.stderr).toBe(0);
      expect(login.stdout).toContain("Login Succeeded");
      // As the quickstart says it: no tag, so latest.
      const pull = await podman.pull(`${edge.host}/hello-world`);
      expect(pull.code, pull.stderr).toBe(0);
      const image = await podman.inspectImage(`${edge.host}/hello-world:latest`);
      expect(image?.Digest).toBe(helloWorld.indexDigest);
      const hostArch = process.arch === "arm64" ? "arm64" : "amd64";
      const platform = helloWorld.platforms.find((p) => p.platform.architecture === hostArch)!;
      expect(`sha256:${image!.Id}`).toBe(platform.configDigest);

      // The other repository is at the edge (its own token reads it, byte for byte)...
      expect(await skopeo.inspectRaw(`docker://${edge.host}/quickstart-other:v1`, otherReader)).toBe(other.manifest.toString("utf8"));
      // ...but outside shopfloor's scope map: refused, and not as "not found".
      const refused = await podman.pull(`${edge.host}/quickstart-other:v1`);
      expect(refused.code, "podman pull of a repository outside the token's scope succeeded").not.toBe(0);
      expect(refused.stderr).toMatch(REFUSED);
      expect(refused.stderr).not.toMatch(/manifest unknown|name unknown|not found/i);

      // A push to the ReadOnly edge is refused with a message that says it is read-only:
      // podman push of a new image, and of the image it just pulled under another tag.
      const tarFile = join(podman.dir, "layer.tar");
      await writeFile(tarFile, tarWithOneFile("pushed.txt", randomBytes(64)));
      await podman.importTar(tarFile, `${edge.host}/hello-world:pushed`);
      const push = await podman.push(`${edge.host}/hello-world:pushed`);
      expect(push.code, `podman push to a ReadOnly edge succeeded:\n${push.stderr}`).not.toBe(0);
      expect(push.stderr).toMatch(/read-only/i);
      await podman.tag(`${edge.host}/hello-world:latest`, `${edge.host}/hello-world:again`);
      const pushAgain = await podman.push(`${edge.host}/hello-world:again`);
      expect(pushAgain.code, `podman push to a ReadOnly edge succeeded:\n${pushAgain.stderr}`).not.toBe(0);
      expect(pushAgain.stderr).toMatch(/read-only/i);
      // The same over plain HTTP: 405 with a message naming ReadOnly mode; nothing was tagged.
      const put = await registryFetch(edge.url, "/v2/hello-world/manifests/again", shopfloor, {
        method: "PUT",
        headers: { "Content-Type": OCI_INDEX },
        body: helloWorld.blobs.get(helloWorld.indexDigest)!,
      });
      expect(put.status).toBe(405);
      expect(((await put.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toMatch(/read-only/i);
      // Repository content cannot be deleted either.
      const deletion = await registryFetch(edge.url, `/v2/hello-world/manifests/${helloWorld.indexDigest}`, shopfloor, { method: "DELETE" });
      expect(deletion.status).toBe(405);
      expect(await tagsAt(edge.url, shopfloor, "hello-world")).toEqual(["latest"]);

      // What an operator checks: `connected-registry status`, /metrics, and the cloud's view of the edge.
      const { stdout } = await execFileAsync(process.execPath, [BIN, "status", "--data", edge.dataDir]);
      expect(stdout).toMatch(/connected registry:\s+quickstart/);
      expect(stdout).toMatch(/activation:\s+Active/);
      expect(stdout).toMatch(/mode:\s+ReadOnly/);
      expect(stdout).toMatch(/full sync:\s+done/);
      expect(stdout).toMatch(/client tokens:\s+.*shopfloor/);
      const json = await statusJson(edge);
      expect(json).toMatchObject({ name: "quickstart", activation: { status: "Active" }, fullSyncDone: true });
      expect(json.clientTokens).toEqual(expect.arrayContaining([{ name: "shopfloor", status: "enabled" }]));
      expect(JSON.stringify(json)).not.toContain("scrypt$");
      const metrics = await (await fetch(`${edge.url}/metrics`)).text();
      expect(metrics).toMatch(/^connected_registry_http_requests_total\{[^}]*route="v2"[^}]*\} \d+/m);
      expect(metrics).toMatch(/^connected_registry_last_sync_timestamp_seconds \d/m);
      expect(metrics).toMatch(/^connected_registry_sync_fetched_bytes_total [1-9]/m);
      const heard = await eventually(
        async () => {
          const answer = await management.call("GET", "connectedRegistries/quickstart");
          return answer.body.connectionState === "Online" && answer.body.lastSyncTime ? answer.body : undefined;
        },
        30_000,
        "the cloud records the edge Online with a last sync time (heartbeat)",
      );
      expect(heard.statusDetails ?? []).toEqual([]);
    },
    SLOW_TEST_MS,
  );

  it(
    "shows a multi-arch image pushed to the cloud within seconds, byte for byte; moves and deletes tags as the cloud does",
    async () => {
      const { stack, management, admin, pusher } = cloud;
      const work = await workFolder("continuous");
      const repository = "continuous/app";
      const reader = await clientToken(management, "continuousreader", readActions(repository));
      const connectionString = await createConnectedRegistry(
        management,
        { name: "continuous1", mode: "ReadOnly", repositories: [repository], clientTokens: [reader.username] },
        stack.registryHost,
      );
      const edge = await edgeProcess(connectionString);
      const status = await waitSynced(edge, "continuous1 (empty repository)");
      expect(status.schedule).toBe("* * * * *");

      // A two-platform index pushed to the cloud appears at the edge within a few seconds.
      const first = await writeMultiArchOciLayout(join(work, "first"), { tag: "v1", seed: "edge-e2e/continuous/first" });
      await skopeo.copy(`oci:${first.dir}:v1`, `docker://${stack.registryHost}/${repository}:v1`, admin, ["--all"]);
      const pushedAt = Date.now();
      await eventually(async () => (await digestAt(edge.url, reader, repository, "v1")) === first.indexDigest, 60_000, "the index at the edge");
      const lagMs = Date.now() - pushedAt;
      expect(lagMs, "cloud push to edge visible").toBeLessThan(CONTINUOUS_LAG_LIMIT_MS);

      // Byte-identical: the index, each platform manifest, each blob (HTTP), and what skopeo reads.
      const checked = await verifyImage(edge.url, reader, repository, "v1", first.indexDigest);
      expect(new Set(checked.manifests)).toEqual(new Set([first.indexDigest, ...first.platforms.map((p) => p.manifestDigest)]));
      expect(new Set(checked.blobs)).toEqual(new Set(first.platforms.flatMap((p) => [p.configDigest, ...p.layerDigests])));
      expect(await skopeo.inspectRaw(`docker://${edge.host}/${repository}:v1`, reader)).toBe(first.blobs.get(first.indexDigest)!.toString("utf8"));
      for (const platform of first.platforms) {
        const raw = await skopeo.inspectRaw(`docker://${edge.host}/${repository}@${platform.manifestDigest}`, reader);
        expect(Buffer.from(raw).equals(first.blobs.get(platform.manifestDigest)!)).toBe(true);
      }

      // A tag moved in the cloud moves at the edge.
      const second = await writeMultiArchOciLayout(join(work, "second"), { tag: "v1", seed: "edge-e2e/continuous/second" });
      await skopeo.copy(`oci:${second.dir}:v1`, `docker://${stack.registryHost}/${repository}:v1`, admin, ["--all"]);
      expect(await digestAt(stack.registryUrl, admin, repository, "v1")).toBe(second.indexDigest);
      await eventually(async () => (await digestAt(edge.url, reader, repository, "v1")) === second.indexDigest, 30_000, "the moved tag at the edge");
      await verifyImage(edge.url, reader, repository, "v1", second.indexDigest);

      // A second tag, then the first deleted in the cloud: it disappears at the edge, the other stays.
      await skopeo.copy(`oci:${first.dir}:v1`, `docker://${stack.registryHost}/${repository}:stable`, admin, ["--all"]);
      await eventually(async () => (await digestAt(edge.url, reader, repository, "stable")) === first.indexDigest, 30_000, "the second tag at the edge");
      const deleted = await pusher.fetch(`/v2/${repository}/manifests/v1`, { method: "DELETE" });
      expect(deleted.status).toBe(202);
      expect(await digestAt(stack.registryUrl, admin, repository, "v1")).toBeUndefined();
      await eventually(async () => (await digestAt(edge.url, reader, repository, "v1")) === undefined, 30_000, "the deleted tag gone at the edge");
      expect(await tagsAt(edge.url, reader, repository)).toEqual(["stable"]);
      expect(await digestAt(edge.url, reader, repository, "stable")).toBe(first.indexDigest);
      const pull = await skopeo.inspectRaw(`docker://${edge.host}/${repository}:v1`, reader).then(
        () => undefined,
        (error: Error) => error,
      );
      expect(pull?.message).toMatch(/manifest unknown|not found/i);
    },
    SLOW_TEST_MS,
  );

  it(
    "stops accepting a client token at the edge once it is disabled in the cloud, after the next sync",
    async () => {
      const { stack, management, admin } = cloud;
      const repository = "tokens/app";
      const dir = await writeDockerDirImage(join(await workFolder("tokens"), "image"), { seed: "edge-e2e/tokens" });
      await skopeo.copy(`dir:${dir.dir}`, `docker://${stack.registryHost}/${repository}:v1`, admin);
      const image = { digest: dir.manifestDigest };
      const keeper = await clientToken(management, "tokenkeeper", readActions(repository));
      const disabled = await clientToken(management, "tokendisabled", readActions(repository));
      const connectionString = await createConnectedRegistry(
        management,
        { name: "tokens1", mode: "ReadOnly", repositories: [repository], clientTokens: [keeper.username, disabled.username] },
        stack.registryHost,
      );
      const edge = await edgeProcess(connectionString);
      await waitSynced(edge, "tokens1");

      const podman = await newPodman();
      expect((await podman.login(edge.host, disabled.username, disabled.password)).code).toBe(0);
      const pulled = await podman.pull(`${edge.host}/${repository}:v1`);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(await digestAt(edge.url, disabled, repository, "v1")).toBe(image.digest);
      // A bearer token from the edge's token server, issued while the token was enabled.
      const issued = await registryFetch(edge.url, `/oauth2/token?service=${edge.host}&scope=repository:${repository}:pull`, disabled);
      expect(issued.status).toBe(200);
      const bearer = ((await issued.json()) as { access_token?: string; token?: string });
      const accessToken = bearer.access_token ?? bearer.token!;

      await expectStatus(management.call("PATCH", `tokens/${disabled.username}`, { status: "disabled" }), 200);
      await eventually(
        async () => (await statusJson(edge)).clientTokens?.some((t: { name: string; status: string }) => t.name === disabled.username && t.status === "disabled"),
        30_000,
        "`connected-registry status` shows the token disabled",
      );

      // Basic straight to /v2/, the token server, an access token issued before, podman's stored login: all refused.
      const basicGet = await registryFetch(edge.url, `/v2/${repository}/manifests/v1`, disabled, { headers: { Accept: ACCEPT } });
      expect(basicGet.status).toBe(401);
      const tokenAgain = await registryFetch(edge.url, `/oauth2/token?service=${edge.host}&scope=repository:${repository}:pull`, disabled);
      expect(tokenAgain.status).toBe(401);
      expect(await tokenAgain.text()).toMatch(/disabled/i);
      const oldBearer = await fetch(`${edge.url}/v2/${repository}/manifests/v1`, { headers: { Authorization: `Bearer ${accessToken}`, Accept: ACCEPT } });
      expect(oldBearer.status).toBe(401);
      const pullAgain = await podman.pull(`${edge.host}/${repository}:v1`);
      expect(pullAgain.code, "podman pull with a token disabled in the cloud succeeded at the edge").not.toBe(0);
      expect(pullAgain.stderr).toMatch(/disabled|unauthorized|denied/i);
      const loginAgain = await (await newPodman()).login(edge.host, disabled.username, disabled.password);
      expect(loginAgain.code, "podman login with a disabled token succeeded at the edge").not.toBe(0);

      // The other token is untouched...
      expect(await digestAt(edge.url, keeper, repository, "v1")).toBe(image.digest);
      // ...until it is removed from the connected registry's client tokens.
      await expectStatus(management.call("PATCH", "connectedRegistries/tokens1", { removeClientTokens: [keeper.username] }), 200);
      await eventually(
        async () => (await registryFetch(edge.url, `/v2/${repository}/manifests/v1`, keeper, { headers: { Accept: ACCEPT } })).status === 401,
        30_000,
        "a client token removed from the connected registry refused at the edge",
      );
    },
    SLOW_TEST_MS,
  );

  it(
    "ReadWrite: an image copied into the edge with skopeo reaches the cloud, same digest, after sync",
    async () => {
      const { stack, management, admin } = cloud;
      const work = await workFolder("readwrite");
      const repository = "readwrite/app";
      const writer = await clientToken(management, "readwriter", [
        ...readActions(repository),
        `repositories/${repository}/content/write`,
        `repositories/${repository}/metadata/write`,
      ]);
      const connectionString = await createConnectedRegistry(
        management,
        { name: "readwrite1", mode: "ReadWrite", repositories: [repository], clientTokens: [writer.username] },
        stack.registryHost,
      );
      const edge = await edgeProcess(connectionString);
      const synced = await waitSynced(edge, "readwrite1");
      expect(synced.mode).toBe("ReadWrite");

      const image = await writeDockerDirImage(join(work, "image"), { seed: "edge-e2e/readwrite" });
      await skopeo.copy(`dir:${image.dir}`, `docker://${edge.host}/${repository}:v1`, writer);
      expect(await digestAt(edge.url, writer, repository, "v1")).toBe(image.manifestDigest);
      const index = await writeMultiArchOciLayout(join(work, "index"), { tag: "multi", seed: "edge-e2e/readwrite/index" });
      await skopeo.copy(`oci:${index.dir}:multi`, `docker://${edge.host}/${repository}:multi`, writer, ["--all"]);

      await eventually(async () => (await digestAt(stack.registryUrl, admin, repository, "v1")) === image.manifestDigest, 60_000, "the image in the cloud");
      await eventually(async () => (await digestAt(stack.registryUrl, admin, repository, "multi")) === index.indexDigest, 60_000, "the index in the cloud");
      // Whole and byte for byte in the cloud: manifests, every platform, every blob.
      await verifyImage(stack.registryUrl, admin, repository, "v1", image.manifestDigest);
      await verifyImage(stack.registryUrl, admin, repository, "multi", index.indexDigest);
      expect(await skopeo.inspectRaw(`docker://${stack.registryHost}/${repository}:v1`, admin)).toBe(image.manifest.toString("utf8"));

      // The edge keeps serving the same tags after the cycles that pushed them (its own changes come back in the feed).
      await waitSynced(edge, "readwrite1 after the upstream push", new Date().toISOString());
      expect(await digestAt(edge.url, writer, repository, "v1")).toBe(image.manifestDigest);
      expect(await digestAt(edge.url, writer, repository, "multi")).toBe(index.indexDigest);
      // The cloud records where the push came from.
      const record = await expectStatus(management.call("GET", "connectedRegistries/readwrite1"), 200);
      expect(record.activation.status).toBe("Active");
    },
    SLOW_TEST_MS,
  );

  it(
    "ReadWrite: when a tag changed on both sides while the parent was unreachable, the parent's version wins and the local image stays reachable by digest",
    async () => {
      const { stack, management, admin } = cloud;
      const work = await workFolder("conflict");
      const repository = "conflict/app";
      const writer = await clientToken(management, "conflictwriter", [
        ...readActions(repository),
        `repositories/${repository}/content/write`,
        `repositories/${repository}/metadata/write`,
      ]);
      const original = await writeDockerDirImage(join(work, "original"), { seed: "edge-e2e/conflict/original" });
      await skopeo.copy(`dir:${original.dir}`, `docker://${stack.registryHost}/${repository}:v1`, admin);
      const link = await parentLink(stack.registryHost, proxies);
      const connectionString = await createConnectedRegistry(
        management,
        { name: "conflict1", mode: "ReadWrite", repositories: [repository], clientTokens: [writer.username] },
        link.host,
      );
      const edge = await edgeProcess(connectionString);
      await waitSynced(edge, "conflict1");
      expect(await digestAt(edge.url, writer, repository, "v1")).toBe(original.manifestDigest);

      // The network to the parent goes down; a local client and a cloud client both move v1.
      link.cut();
      await eventually(async () => Boolean((await edge.status()).lastError), 30_000, "the edge notices the parent is unreachable");
      const local = await writeDockerDirImage(join(work, "local"), { seed: "edge-e2e/conflict/local" });
      await skopeo.copy(`dir:${local.dir}`, `docker://${edge.host}/${repository}:v1`, writer);
      const onlyLocal = await writeDockerDirImage(join(work, "only-local"), { seed: "edge-e2e/conflict/only-local" });
      await skopeo.copy(`dir:${onlyLocal.dir}`, `docker://${edge.host}/${repository}:offline`, writer);
      expect(await digestAt(edge.url, writer, repository, "v1")).toBe(local.manifestDigest);
      const parents = await writeDockerDirImage(join(work, "parent"), { seed: "edge-e2e/conflict/parent" });
      await skopeo.copy(`dir:${parents.dir}`, `docker://${stack.registryHost}/${repository}:v1`, admin);

      // Back online: the parent's v1 wins on both sides; the local image is kept by digest on both sides.
      link.restore();
      await eventually(async () => (await digestAt(stack.registryUrl, admin, repository, "offline")) === onlyLocal.manifestDigest, 90_000, "the offline push reaches the cloud");
      await eventually(async () => (await digestAt(edge.url, writer, repository, "v1")) === parents.manifestDigest, 30_000, "the parent's v1 at the edge");
      await waitSynced(edge, "conflict1 after the link came back", new Date().toISOString());
      expect(await digestAt(stack.registryUrl, admin, repository, "v1")).toBe(parents.manifestDigest);
      expect(await digestAt(edge.url, writer, repository, "v1")).toBe(parents.manifestDigest);
      await verifyImage(edge.url, writer, repository, local.manifestDigest, local.manifestDigest);
      await verifyImage(stack.registryUrl, admin, repository, local.manifestDigest, local.manifestDigest);
      await verifyImage(stack.registryUrl, admin, repository, "offline", onlyLocal.manifestDigest);
    },
    SLOW_TEST_MS,
  );

  it(
    "follows configuration changes at the next feed read: repositories added and removed, client tokens added",
    async () => {
      const { stack, management, pusher } = cloud;
      const first = "config/first";
      const second = "config/second";
      const firstImage = await pushRandomImage(pusher, first, "v1", [4096]);
      const secondImage = await pushRandomImage(pusher, second, "v1", [4096]);
      const reader = await clientToken(management, "configreader", readActions(first, second));
      const connectionString = await createConnectedRegistry(
        management,
        { name: "config1", mode: "ReadOnly", repositories: [first], clientTokens: [reader.username] },
        stack.registryHost,
      );
      // This test polls with a client token before the edge knows it: every such poll is a failed
      // login from 127.0.0.1, which the default limit (10 a minute per address) would answer with 429.
      const edge = await edgeProcess(connectionString, undefined, { args: ["--login-failures-per-address", "1000"] });
      await waitSynced(edge, "config1");
      expect(await digestAt(edge.url, reader, first, "v1")).toBe(firstImage.digest);
      expect(await digestAt(edge.url, reader, second, "v1")).toBeUndefined();

      // A repository added to the connected registry: its existing content arrives, and so do new pushes.
      // The parent lets the sync token read it as the change is made; the edge takes it in at its next feed
      // reads (every 0.5 s here): a few seconds, not the cloud's 30 s token-state cache (TOKEN_STATE_SECONDS).
      await expectStatus(management.call("POST", "connectedRegistries/config1/permissions", { addRepositories: [second] }), 200);
      const addedAt = Date.now();
      // Once the edge has the new configuration, the repository already in scope keeps syncing as usual.
      await eventually(async () => ((await edge.status()).repositories as string[]).includes(second), 30_000, "the edge takes the new configuration");
      const firstLater = await pushRandomImage(pusher, first, "v2", [4096]);
      const firstPushedAt = Date.now();
      await eventually(async () => (await digestAt(edge.url, reader, first, "v2")) === firstLater.digest, 120_000, "a push to the repository already in scope");
      const firstLagMs = Date.now() - firstPushedAt;
      await eventually(async () => (await digestAt(edge.url, reader, second, "v1")) === secondImage.digest, 120_000, "the added repository's image at the edge");
      const addedLagMs = Date.now() - addedAt;
      expect.soft(firstLagMs, "a push to config/first while config/second was being added: ms until the edge served it").toBeLessThan(CONTINUOUS_LAG_LIMIT_MS);
      expect.soft(addedLagMs, "ms from adding config/second to the edge serving its image").toBeLessThan(15_000);
      const later = await pushRandomImage(pusher, second, "v2", [4096]);
      await eventually(async () => (await digestAt(edge.url, reader, second, "v2")) === later.digest, 30_000, "a new push to the added repository at the edge");
      expect((await edge.status()).repositories).toEqual(expect.arrayContaining([first, second]));

      // A repository removed: no longer served at the edge.
      await expectStatus(management.call("POST", "connectedRegistries/config1/permissions", { removeRepositories: [first] }), 200);
      await eventually(async () => (await digestAt(edge.url, reader, first, "v1")) === undefined, 30_000, "the removed repository gone at the edge");
      expect(await digestAt(edge.url, reader, second, "v1")).toBe(secondImage.digest);

      // A client token added: it logs in at the edge after the next sync.
      const newcomer = await clientToken(management, "confignewcomer", readActions(second));
      expect((await registryFetch(edge.url, `/v2/${second}/manifests/v1`, newcomer, { headers: { Accept: ACCEPT } })).status).toBe(401);
      await expectStatus(management.call("PATCH", "connectedRegistries/config1", { addClientTokens: [newcomer.username] }), 200);
      await eventually(async () => (await digestAt(edge.url, newcomer, second, "v1").catch(() => undefined)) === secondImage.digest, 30_000, "the added client token works at the edge");
    },
    SLOW_TEST_MS,
  );

  it(
    "works as a three-level chain: cloud -> edge A -> edge B, content pushed to the cloud reaches B and B's client token pulls it",
    async () => {
      const { stack, management, admin } = cloud;
      const work = await workFolder("chain");
      const repository = "chain/app";
      const writerA = await clientToken(management, "chainwriter", [...readActions(repository), `repositories/${repository}/content/write`, `repositories/${repository}/metadata/write`]);
      const connectionA = await createConnectedRegistry(
        management,
        { name: "chaina", mode: "ReadWrite", repositories: [repository], clientTokens: [writerA.username] },
        stack.registryHost,
      );
      // A reports where its clients and children reach it (--login-server), so B's get-settings can name it.
      const edgeA = await edgeProcess(connectionA, undefined, { advertise: true });
      await waitSynced(edgeA, "chaina");

      const reader = await clientToken(management, "chainreader", readActions(repository));
      // B's connection string as the cloud's get-settings gives it (not rewritten): its parent is A, at A's address.
      const connectionB = await createConnectedRegistry(management, {
        name: "chainb",
        mode: "ReadOnly",
        parent: "chaina",
        repositories: [repository],
        clientTokens: [reader.username],
      });
      expect(connectionB).toMatch(new RegExp(`;ParentGatewayEndpoint=${edgeA.host.replaceAll(".", "\\.")};ParentEndpointProtocol=http$`));
      // Without pull-through at B: the image must reach B by the sync through A, which is what this
      // test is about (a client's first GET would otherwise fetch it through A at once, and under
      // load a chained blob fetch can outlast the 1-3 s after which a miss is answered 404).
      const edgeB = await edgeProcess(connectionB, undefined, { args: ["--no-pull-through"] });
      const statusB = await waitSynced(edgeB, "chainb (through chaina)");
      expect(statusB).toMatchObject({ name: "chainb", mode: "ReadOnly", activation: { status: "Active" } });
      // The cloud knows B is active and under A; A lists B as its activated child.
      const recordB = await expectStatus(management.call("GET", "connectedRegistries/chainb"), 200);
      expect(recordB).toMatchObject({ parent: "chaina", activation: { status: "Active" } });
      expect((await statusJson(edgeA)).children).toEqual(expect.arrayContaining([expect.objectContaining({ name: "chainb", activated: true })]));

      const layout = await writeMultiArchOciLayout(join(work, "image"), { tag: "v1", seed: "edge-e2e/chain" });
      await skopeo.copy(`oci:${layout.dir}:v1`, `docker://${stack.registryHost}/${repository}:v1`, admin, ["--all"]);
      await eventually(async () => (await digestAt(edgeB.url, reader, repository, "v1")) === layout.indexDigest, 60_000, "the image at edge B");
      await verifyImage(edgeB.url, reader, repository, "v1", layout.indexDigest);

      const podman = await newPodman();
      const login = await podman.login(edgeB.host, reader.username, reader.password);
      expect(login.code, login.stderr).toBe(0);
      const pull = await podman.pull(`${edgeB.host}/${repository}:v1`);
      expect(pull.code, pull.stderr).toBe(0);
      expect((await podman.inspectImage(`${edgeB.host}/${repository}:v1`))?.Digest).toBe(layout.indexDigest);
      // B's client token is B's: A does not know it.
      expect((await podman.login(edgeA.host, reader.username, reader.password)).code).not.toBe(0);

      // What a client pushes into A (ReadWrite) goes down to B and up to the cloud.
      const local = await writeDockerDirImage(join(work, "local"), { seed: "edge-e2e/chain/local" });
      await skopeo.copy(`dir:${local.dir}`, `docker://${edgeA.host}/${repository}:froma`, writerA);
      await eventually(async () => (await digestAt(edgeB.url, reader, repository, "froma")) === local.manifestDigest, 60_000, "A's local push at edge B");
      await eventually(async () => (await digestAt(stack.registryUrl, admin, repository, "froma")) === local.manifestDigest, 60_000, "A's local push in the cloud");
      await verifyImage(edgeB.url, reader, repository, "froma", local.manifestDigest);

      // B is ReadOnly, whatever A is.
      const push = await registryFetch(edgeB.url, `/v2/${repository}/manifests/other`, reader, {
        method: "PUT",
        headers: { "Content-Type": OCI_INDEX },
        body: layout.blobs.get(layout.indexDigest)!,
      });
      expect(push.status).toBe(405);
    },
    SLOW_TEST_MS,
  );

  it(
    "survives SIGKILL during a large blob download: restarts on the same data folder, resumes and finishes with every blob correct",
    async () => {
      const { stack, management, pusher } = cloud;
      const repository = "crash/big";
      const big = 64 * 1024 * 1024;
      const image = await pushRandomImage(pusher, repository, "v1", [big, 2048]);
      const reader = await clientToken(management, "crashbigreader", readActions(repository));
      const connectionString = await createConnectedRegistry(
        management,
        { name: "crashbig", mode: "ReadOnly", repositories: [repository], clientTokens: [reader.username] },
        stack.registryHost,
      );
      const bigHex = image.blobs[1]!.slice("sha256:".length);

      const first = await edgeProcess(connectionString);
      const partialDir = join(first.dataDir, "partial");
      // Kill once a good part of the big blob is on disk (partial/<hex>, docs/edge-agent.md), so the restart has something to resume.
      await pollFast(async () => (await filesIn(partialDir)).some((f) => f.name === bigHex && f.size >= 8 * 1024 * 1024), 60_000, "the big blob's download under way");
      await first.kill();
      const partialAtKill = (await filesIn(partialDir)).find((f) => f.name === bigHex)?.size ?? 0;
      expect(partialAtKill, "the kill happened before the big blob was completely downloaded").toBeGreaterThan(0);
      expect(partialAtKill).toBeLessThan(big);
      expect(await stat(join(first.dataDir, "blobs", "sha256", bigHex)).catch(() => undefined), "the big blob is not in blobs/ before it is complete").toBeUndefined();
      // Nothing half-visible: no tag yet, or only complete ones.
      const tagsAfterKill = await checkDataFolderConsistent(first.dataDir, repository);
      expect(tagsAfterKill.has("v1")).toBe(false);

      // Restart on the same data folder: it resumes (fetches less than the whole blob again) and finishes.
      const second = await edgeProcess(connectionString, first.dataDir);
      await waitSynced(second, "crashbig after the restart");
      await verifyImage(second.url, reader, repository, "v1", image.digest);
      // And as a client copies it out: skopeo to a dir:, every blob file hashing to its name.
      const copied = join(await workFolder("crashbig"), "copy");
      await skopeo.copyFrom(`docker://${second.host}/${repository}:v1`, `dir:${copied}`, reader, [], { timeoutMs: 120_000 });
      for (const digest of image.blobs) {
        expect(sha256(await readFile(join(copied, digest.slice("sha256:".length)))), `${digest} copied out of the edge`).toBe(digest);
      }
      expect(sha256(await readFile(join(copied, "manifest.json")))).toBe(image.digest);
      const refetched = await fetchedBytes(second);
      expect(refetched, `bytes fetched after the restart (partial was ${partialAtKill} of ${big})`).toBeLessThanOrEqual(big - partialAtKill + 64 * 1024);
      expect(await filesIn(partialDir)).toEqual([]);
      await second.stop();
      await checkDataFolderConsistent(first.dataDir, repository);
    },
    SLOW_TEST_MS,
  );

  it(
    "survives SIGKILL during the manifest writes of many small images: every tag complete after the restart",
    async () => {
      const { stack, management, pusher } = cloud;
      const repository = "crash/many";
      const count = 30;
      const images = new Map<string, { digest: string; blobs: string[] }>();
      for (let i = 0; i < count; i++) images.set(`t${i}`, await pushRandomImage(pusher, repository, `t${i}`, [256 * 1024, 64 * 1024]));
      const reader = await clientToken(management, "crashmanyreader", readActions(repository));
      const connectionString = await createConnectedRegistry(
        management,
        { name: "crashmany", mode: "ReadOnly", repositories: [repository], clientTokens: [reader.username] },
        stack.registryHost,
      );

      const first = await edgeProcess(connectionString);
      // Kill once the full sync has written its first tags, in the middle of the others.
      const tagsDir = join(first.dataDir, "metadata", "repositories", "crash", "many", "_tags");
      await pollFast(async () => (await filesIn(tagsDir)).some((f) => f.name.endsWith(".json")), 60_000, "the first tags written");
      await first.kill();
      const afterKill = await checkDataFolderConsistent(first.dataDir, repository);
      for (const [tag, digest] of afterKill) expect(digest, `${tag} after the kill`).toBe(images.get(tag)?.digest);
      expect(afterKill.size, "the kill happened in the middle of the full sync").toBeLessThan(count);

      // A second kill right after the restart, then a third start that finishes.
      const second = await edgeProcess(connectionString, first.dataDir);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await second.kill();
      await checkDataFolderConsistent(first.dataDir, repository);

      const third = await edgeProcess(connectionString, first.dataDir);
      await waitSynced(third, "crashmany after two kills");
      expect((await tagsAt(third.url, reader, repository)).sort()).toEqual([...images.keys()].sort());
      for (const [tag, image] of images) {
        const checked = await verifyImage(third.url, reader, repository, tag, image.digest);
        expect(checked.blobs).toEqual(image.blobs);
      }
      await third.stop();
      expect((await checkDataFolderConsistent(first.dataDir, repository)).size).toBe(count);
    },
    SLOW_TEST_MS,
  );

  it(
    "stops syncing when deactivated in the cloud, says so in GET /status and its log, and keeps serving pulls",
    async () => {
      const { stack, management, admin, pusher } = cloud;
      const repository = "deactivated/app";
      const dir = await writeDockerDirImage(join(await workFolder("deactivated"), "image"), { seed: "edge-e2e/deactivated" });
      await skopeo.copy(`dir:${dir.dir}`, `docker://${stack.registryHost}/${repository}:v1`, admin);
      const image = { digest: dir.manifestDigest };
      const reader = await clientToken(management, "deactivatedreader", readActions(repository));
      const connectionString = await createConnectedRegistry(
        management,
        { name: "deactivated1", mode: "ReadOnly", repositories: [repository], clientTokens: [reader.username] },
        stack.registryHost,
      );
      const edge = await edgeProcess(connectionString);
      await waitSynced(edge, "deactivated1");
      expect(await digestAt(edge.url, reader, repository, "v1")).toBe(image.digest);

      const deactivated = await expectStatus(management.call("POST", "connectedRegistries/deactivated1/deactivate"), 200);
      expect(deactivated.activation.status).toBe("Inactive");
      const status = await eventually(
        async () => {
          const s = await edge.status();
          return s.activation?.status === "Deactivated" ? s : undefined;
        },
        30_000,
        "GET /status activation.status Deactivated",
      );
      // The log says so too (the line follows the state change).
      const deactivatedLine = await eventually(async () => edge.logs.find((entry) => entry.level === "error" && /not active/i.test(String(entry.message))), 10_000, "the log line");
      // It names a way back that exists (there is no `activate` verb): a restart activates.
      expect(deactivatedLine.message).toContain("restart the agent to activate it again");

      // No more syncing: a push to the cloud does not arrive, and the last sync time stays.
      const later = await pushRandomImage(pusher, repository, "v2", [8192]);
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      expect(await digestAt(edge.url, reader, repository, "v2")).toBeUndefined();
      const after = await edge.status();
      expect(after.lastSyncTime).toBe(status.lastSyncTime);
      expect(after.activation.status).toBe("Deactivated");
      expect(later.digest).not.toBe(image.digest);

      // Pulls go on: podman with the client token.
      expect(edge.child.exitCode).toBeNull();
      const podman = await newPodman();
      expect((await podman.login(edge.host, reader.username, reader.password)).code).toBe(0);
      const pull = await podman.pull(`${edge.host}/${repository}:v1`);
      expect(pull.code, pull.stderr).toBe(0);
      await verifyImage(edge.url, reader, repository, "v1", image.digest);

      // As the log line says: restarted, the agent activates again and syncs what it missed.
      await edge.stop();
      const again = await edgeProcess(connectionString, edge.dataDir);
      await eventually(async () => (await digestAt(again.url, reader, repository, "v2")) === later.digest, 30_000, "v2 synced after the restart");
      expect((await again.status()).activation.status).toBe("Active");
    },
    SLOW_TEST_MS,
  );
});

describe("edge agent with its parent offline (own cloud stack, stopped mid-test)", () => {
  let cloud: Cloud | undefined;
  /** The same cloud started again on its data folder and port. */
  let restarted: TestStack | undefined;
  let skopeo: Skopeo;

  beforeAll(async () => {
    cloud = await startCloud("offlineadmin");
    skopeo = await Skopeo.create();
  });

  afterAll(async () => {
    await cleanUp();
    await restarted?.stop();
    await cloud?.stack.destroy();
    await skopeo?.dispose();
  });

  it(
    "keeps serving pulls with the last known client tokens, reports the parent unreachable, retries with backoff and catches up when it is back",
    async () => {
      const { stack, management, admin } = cloud!;
      const work = await workFolder("offline");
      const repository = "offline/app";
      const layout = await writeMultiArchOciLayout(join(work, "image"), { tag: "v1", seed: "edge-e2e/offline" });
      await skopeo.copy(`oci:${layout.dir}:v1`, `docker://${stack.registryHost}/${repository}:v1`, admin, ["--all"]);
      const reader = await clientToken(management, "offlinereader", readActions(repository));
      const connectionString = await createConnectedRegistry(
        management,
        { name: "offline1", mode: "ReadOnly", repositories: [repository], clientTokens: [reader.username] },
        stack.registryHost,
      );
      const edge = await edgeProcess(connectionString);
      await waitSynced(edge, "offline1");
      await verifyImage(edge.url, reader, repository, "v1", layout.indexDigest);

      // The parent goes away.
      await stack.stop();
      const cloudGone = await fetch(`${stack.registryUrl}/v2/`).then(
        () => false,
        () => true,
      );
      expect(cloudGone, "the cloud registry still answers after stop()").toBe(true);

      const status = await eventually(
        async () => {
          const s = await edge.status();
          return s.lastError ? s : undefined;
        },
        30_000,
        "GET /status lastError",
      );
      expect(status.activation.status).toBe("Active");
      // It retries, waiting longer each time.
      const retries = await eventually(
        async () => {
          const found = edge.logs.filter((entry) => entry.message === "sync failed; retrying");
          return found.length >= 3 ? found : undefined;
        },
        30_000,
        "three retries in the agent's log",
      );
      expect(retries[0]).toMatchObject({ level: "warn", kind: "unreachable" });
      const delays = retries.map((entry) => Number(entry.retryInSeconds));
      expect(delays[1]!).toBeGreaterThan(delays[0]!);
      expect(delays[2]!).toBeGreaterThan(delays[1]!);

      // A user logging in and pulling now notices nothing: local auth, local content.
      const podman = await newPodman();
      const login = await podman.login(edge.host, reader.username, reader.password);
      expect(login.code, login.stderr).toBe(0);
      const pull = await podman.pull(`${edge.host}/${repository}:v1`);
      expect(pull.code, pull.stderr).toBe(0);
      expect((await podman.inspectImage(`${edge.host}/${repository}:v1`))?.Digest).toBe(layout.indexDigest);
      await verifyImage(edge.url, reader, repository, "v1", layout.indexDigest);
      expect(edge.child.exitCode).toBeNull();

      // The edge machine restarts during the outage: the agent comes up from its data folder and serves.
      await edge.stop();
      const again = await edgeProcess(connectionString, edge.dataDir);
      const podmanAgain = await newPodman();
      const loginAgain = await podmanAgain.login(again.host, reader.username, reader.password);
      expect(loginAgain.code, loginAgain.stderr).toBe(0);
      const pullAgain = await podmanAgain.pull(`${again.host}/${repository}:v1`);
      expect(pullAgain.code, pullAgain.stderr).toBe(0);
      await verifyImage(again.url, reader, repository, "v1", layout.indexDigest);
      expect((await again.status()).activation.status).toBe("Active");

      // The parent comes back (same data, same address): the agent's next retry reconnects and syncs what is new.
      restarted = await startTestStack({ anonymous: false, dataDir: stack.dataDir, port: Number(stack.registryHost.split(":")[1]) });
      expect(restarted.registryHost).toBe(stack.registryHost);
      const newer = await writeMultiArchOciLayout(join(work, "newer"), { tag: "v2", seed: "edge-e2e/offline/newer" });
      await skopeo.copy(`oci:${newer.dir}:v2`, `docker://${stack.registryHost}/${repository}:v2`, admin, ["--all"]);
      await eventually(async () => (await digestAt(again.url, reader, repository, "v2")) === newer.indexDigest, 120_000, "the new image at the edge after the parent came back");
      await eventually(async () => !(await again.status()).lastError, 30_000, "lastError cleared");
    },
    SLOW_TEST_MS,
  );
});
