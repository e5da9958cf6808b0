/**
 * Tag and platform filters of a connected registry (issue 15, point 2), on the real stack with
 * a real edge agent and skopeo: the management API validates filters (a bad regex is a 400
 * naming it, nothing changes); an edge with include/exclude/semver and a platform filter gets
 * exactly the matching tags and only the chosen platform's content (a sparse index with the
 * cloud's bytes and digest); skopeo pulls the kept platform by tag and by digest and is told
 * the other one is filtered out; the feed honours the filter; changing it brings what now
 * matches and removes what no longer does. With pull-through a filtered-out tag is served from
 * the parent but not kept as a tag (without it: a 404 naming the filter), and a filtered-out
 * platform is never pulled through.
 */
import { execFile, type ExecFileException } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually, removeEdgeData, startEdge, type EdgeProcess } from "../support/edge.js";
import { ACCEPT, basic, clientToken, expectStatus, getManifest, pushRandomImage, readActions, registryFetch, tagsAt } from "../support/edge-e2e.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, OCI_INDEX, OCI_MANIFEST, sha256 } from "../support/registry-client.js";
import { tarWithOneFile } from "../support/oci-layout.js";
import { Podman } from "../support/podman.js";
import { Skopeo, type Credentials } from "../support/skopeo.js";
import { startTestStack, TEST_ADMIN_KEY, type TestStack } from "../support/stack.js";

const CLI = join(import.meta.dirname, "../../dist/scripts/admin-cli/main.js");

const CONVERGE_MS = 60_000;
const APP = "filtered/app";
const EDGE = "filteredge";
const FILTER = { repository: APP, tags: { include: ["v.*"], exclude: ["v1\\.9\\..*"], semver: ">=1.0.0 <2" }, platforms: ["linux/arm64"] };

interface Platform {
  architecture: string;
  manifest: string;
  layer: string;
  size: number;
}

let stack: TestStack;
let management: ManagementClient;
let pusher: AuthorizedClient;
let admin: Credentials;
let reader: Credentials;
let edge: EdgeProcess;
let skopeo: Skopeo;
let work: string;
let index: { digest: string; platforms: Platform[] };
let connection: string;
/** The image of dev-abc, a tag the filter leaves out. */
let filteredOut: { digest: string; blobs: string[] };

/** A two-platform OCI index under `tag` (amd64, arm64), each platform with its own random layer. */
async function pushIndex(repository: string, tag: string): Promise<{ digest: string; platforms: Platform[] }> {
  const platforms: Platform[] = [];
  for (const architecture of ["amd64", "arm64"]) {
    // A real layer (gzip of a tar) with its diff_id, so podman can store the image it pulls.
    const tar = tarWithOneFile(`${architecture}.txt`, randomBytes(2048));
    const config = Buffer.from(JSON.stringify({ architecture, os: "linux", rootfs: { type: "layers", diff_ids: [sha256(tar)] } }));
    const layerBytes = gzipSync(tar);
    const layer = await pusher.pushBlob(repository, layerBytes);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: await pusher.pushBlob(repository, config), size: config.length },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layer, size: layerBytes.length }],
      }),
    );
    expect((await pusher.putManifest(repository, sha256(manifest), manifest)).status).toBe(201);
    platforms.push({ architecture, manifest: sha256(manifest), layer, size: manifest.length });
  }
  const sized = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: platforms.map((p) => ({ mediaType: OCI_MANIFEST, digest: p.manifest, size: p.size, platform: { os: "linux", architecture: p.architecture } })),
    }),
  );
  expect((await pusher.putManifest(repository, tag, sized, OCI_INDEX)).status).toBe(201);
  return { digest: sha256(sized), platforms };
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, REGISTRY_ENDPOINT: stack.registryUrl, REGISTRY_ADMIN_KEY: TEST_ADMIN_KEY },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as ExecFileException & { stdout: string; stderr: string };
    return { code: Number(failed.code), stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function stored(dataDir: string, digest: string): Promise<boolean> {
  return stat(join(dataDir, "blobs", "sha256", digest.slice("sha256:".length))).then(
    () => true,
    () => false,
  );
}

async function tagsAtEdge(expected: string[], what: string): Promise<void> {
  let last: string[] = [];
  await eventually(
    async () => {
      last = (await tagsAt(edge.url, reader, APP)).sort();
      return JSON.stringify(last) === JSON.stringify([...expected].sort());
    },
    CONVERGE_MS,
    what,
  ).catch((error: Error) => {
    throw new Error(`${error.message}: the edge lists ${JSON.stringify(last)}`);
  });
}

/** Waits for a sync cycle that started after now to complete. */
async function nextSync(): Promise<void> {
  const after = new Date().toISOString();
  await eventually(async () => {
    const status = await edge.status();
    return status.lastSyncTime && String(status.lastSyncTime) > after ? status : undefined;
  }, CONVERGE_MS, "a completed sync cycle");
}

beforeAll(async () => {
  stack = await startTestStack({ anonymous: false });
  management = new ManagementClient(stack.registryUrl);
  admin = { username: "filteradmin", password: await management.tokenWithPassword("filteradmin", { scopeMap: "_repositories_admin" }) };
  pusher = new AuthorizedClient(stack.registryUrl, basic(admin));
  reader = await clientToken(management, "filterreader", readActions(APP));
  skopeo = await Skopeo.create();
  work = await mkdtemp(join(tmpdir(), "edge-filters-"));

  index = await pushIndex(APP, "v1.0.0");
  await Promise.all(["v1.2.3", "v1.9.9", "v2.0.0"].map((tag) => pushRandomImage(pusher, APP, tag)));
  filteredOut = await pushRandomImage(pusher, APP, "dev-abc");
}, 120_000);

afterAll(async () => {
  await edge?.kill().catch(() => {});
  if (edge) await removeEdgeData(edge.dataDir);
  await skopeo?.dispose();
  if (work) await rm(work, { recursive: true, force: true });
  await stack?.destroy();
});

describe("tag and platform filters", () => {
  it("refuses a bad filter with a 400 naming it, and creates nothing", async () => {
    const cases: Array<[unknown, string]> = [
      [{ repository: APP, tags: { include: ["v(1"] } }, 'tags.include[0] "v(1"'],
      [{ repository: APP, tags: { exclude: ["(a+)+"] } }, 'tags.exclude[0] "(a+)+"'],
      [{ repository: APP, tags: { semver: "not a range" } }, 'tags.semver "not a range"'],
      [{ repository: APP, platforms: ["linux"] }, 'platform "linux"'],
      [{ repository: "not/in-scope", tags: { include: ["v.*"] } }, '"not/in-scope" is not in this connected registry\'s scope'],
    ];
    await Promise.all(
      cases.map(async ([filter, named], i) => {
        const answer = await management.call("POST", "connectedRegistries", { name: `badfilter${i}`, repositories: [APP], repositoryFilters: [filter] });
        expect(answer.status, JSON.stringify(answer.body)).toBe(400);
        expect(JSON.stringify(answer.body)).toContain(JSON.stringify(named).slice(1, -1));
        expect((await management.call("GET", `connectedRegistries/badfilter${i}`)).status).toBe(404);
      }),
    );
  });

  it("an edge keeps only the matching tags and only the chosen platform of an index (without pull-through, the others are a 404 naming the filter)", async () => {
    connection = await createConnectedRegistry(management, { name: EDGE, repositories: [APP], clientTokens: [reader.username], repositoryFilters: [FILTER] });
    expect((await management.call("GET", `connectedRegistries/${EDGE}`)).body.repositoryFilters).toEqual([FILTER]);
    edge = await startEdge({ connectionString: connection, args: ["--no-pull-through"] });
    await tagsAtEdge(["v1.0.0", "v1.2.3"], "the edge lists the tags the filter keeps");

    // The index is the cloud's, bytes and digest; only arm64 is here.
    const atEdge = await getManifest(edge.url, reader, APP, "v1.0.0");
    expect(atEdge.status).toBe(200);
    expect(atEdge.digest).toBe(index.digest);
    expect(sha256(atEdge.bytes)).toBe(index.digest);
    const [amd64, arm64] = index.platforms as [Platform, Platform];
    expect((await getManifest(edge.url, reader, APP, arm64.manifest)).status).toBe(200);
    expect(await stored(edge.dataDir, arm64.layer)).toBe(true);
    expect(await stored(edge.dataDir, amd64.layer)).toBe(false);
    const filtered = await registryFetch(edge.url, `/v2/${APP}/manifests/${amd64.manifest}`, reader, { headers: { Accept: ACCEPT } });
    expect(filtered.status).toBe(404);
    const error = (await filtered.json()) as { errors: Array<{ code: string; message: string }> };
    expect(error.errors[0]!.code).toBe("MANIFEST_UNKNOWN");
    expect(error.errors[0]!.message).toContain("filtered out at this edge, which keeps only linux/arm64");
    const untagged = await registryFetch(edge.url, `/v2/${APP}/manifests/dev-abc`, reader, { headers: { Accept: ACCEPT } });
    expect(untagged.status).toBe(404);
    expect(((await untagged.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toContain("tag dev-abc of repository filtered/app is filtered out at this edge");
  }, 120_000);

  it("with pull-through, a filtered-out tag is served from the parent but not kept as a tag, and a filtered-out platform is still a 404", async () => {
    await edge.kill();
    edge = await startEdge({ connectionString: connection, dataDir: edge.dataDir });
    const [amd64] = index.platforms as [Platform, Platform];
    const platform = await registryFetch(edge.url, `/v2/${APP}/manifests/${amd64.manifest}`, reader, { headers: { Accept: ACCEPT } });
    expect(platform.status).toBe(404);
    expect(((await platform.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toContain("filtered out at this edge, which keeps only linux/arm64");

    const served = await getManifest(edge.url, reader, APP, "dev-abc");
    expect(served.status, served.bytes.toString("utf8")).toBe(200);
    expect(served.digest).toBe(filteredOut.digest);
    // Stored a moment later, untagged: its blobs arrive, the tag never does.
    await eventually(async () => (await Promise.all(filteredOut.blobs.map((blob) => stored(edge.dataDir, blob)))).every(Boolean), CONVERGE_MS, "the image of dev-abc is stored");
    expect((await tagsAt(edge.url, reader, APP)).sort()).toEqual(["v1.0.0", "v1.2.3"]);
    expect((await getManifest(edge.url, reader, APP, "dev-abc")).digest).toBe(filteredOut.digest);
    expect(await stored(edge.dataDir, amd64.layer)).toBe(false);

    // An index under a filtered-out tag: served through; its left-out platform is refused even
    // when asked at once, before the served index is stored, and is never fetched.
    const other = await pushIndex(APP, "x-idx");
    const [otherAmd64, otherArm64] = other.platforms as [Platform, Platform];
    expect((await getManifest(edge.url, reader, APP, "x-idx")).digest).toBe(other.digest);
    const child = await registryFetch(edge.url, `/v2/${APP}/manifests/${otherAmd64.manifest}`, reader, { headers: { Accept: ACCEPT } });
    expect(child.status).toBe(404);
    expect(((await child.json()) as { errors: Array<{ code: string; message: string }> }).errors[0]).toMatchObject({
      code: "MANIFEST_UNKNOWN",
      message: expect.stringContaining(`of index ${other.digest} in repository ${APP} is filtered out at this edge, which keeps only linux/arm64`),
    });
    expect((await getManifest(edge.url, reader, APP, otherArm64.manifest)).status).toBe(200);
    await eventually(() => stored(edge.dataDir, otherArm64.layer), CONVERGE_MS, "the kept platform of x-idx is stored");
    expect((await registryFetch(edge.url, `/v2/${APP}/manifests/${otherAmd64.manifest}`, reader, { headers: { Accept: ACCEPT } })).status).toBe(404);
    expect(await stored(edge.dataDir, otherAmd64.layer)).toBe(false);
  }, 120_000);

  it("skopeo pulls the kept platform by tag and by digest, and is told the other is filtered out", async () => {
    const arm = ["--override-os", "linux", "--override-arch", "arm64"];
    await skopeo.copyFrom(`docker://${edge.host}/${APP}:v1.0.0`, `dir:${join(work, "by-tag")}`, reader, arm);
    await skopeo.copyFrom(`docker://${edge.host}/${APP}@${index.digest}`, `dir:${join(work, "by-digest")}`, reader, arm);
    await skopeo.copyFrom(`docker://${edge.host}/${APP}@${index.platforms[1]!.manifest}`, `dir:${join(work, "platform")}`, reader);
    await expect(
      skopeo.copyFrom(`docker://${edge.host}/${APP}:v1.0.0`, `dir:${join(work, "amd64")}`, reader, ["--override-os", "linux", "--override-arch", "amd64"]),
    ).rejects.toThrow(/filtered out at this edge/);
  }, 120_000);

  it("podman pulls the kept platform by tag and is told the other is filtered out", async () => {
    const podman = await Podman.create();
    try {
      expect((await podman.login(edge.host, reader.username, reader.password)).code).toBe(0);
      const pull = (arch: string, reference: string): ReturnType<Podman["run"]> =>
        podman.run(["pull", "--tls-verify=false", "--authfile", podman.authFile, "--signature-policy", join(podman.dir, "policy.json"), "--os", "linux", "--arch", arch, reference]);
      const kept = await pull("arm64", `${edge.host}/${APP}:v1.0.0`);
      expect(kept.code, kept.stderr).toBe(0);
      expect((await podman.inspectImage(`${edge.host}/${APP}:v1.0.0`))?.Architecture).toBe("arm64");
      const byDigest = await pull("arm64", `${edge.host}/${APP}@${index.digest}`);
      expect(byDigest.code, byDigest.stderr).toBe(0);
      const other = await pull("amd64", `${edge.host}/${APP}:v1.0.0`);
      expect(other.code).not.toBe(0);
      expect(other.stderr).toContain("filtered out at this edge");
    } finally {
      await podman.dispose();
    }
  }, 120_000);

  it("the feed brings a new matching tag and leaves a non-matching one", async () => {
    await pushRandomImage(pusher, APP, "v1.3.0");
    await pushRandomImage(pusher, APP, "dev-xyz");
    await tagsAtEdge(["v1.0.0", "v1.2.3", "v1.3.0"], "the feed brought v1.3.0");
    await nextSync();
    expect((await tagsAt(edge.url, reader, APP)).sort()).toEqual(["v1.0.0", "v1.2.3", "v1.3.0"]);
  }, 120_000);

  it("a bad update is refused and changes nothing; a new filter brings what now matches and removes what no longer does", async () => {
    const bad = await management.call("PATCH", `connectedRegistries/${EDGE}`, { repositoryFilters: [{ repository: APP, tags: { include: ["[v"] } }] });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('tags.include[0] \\"[v\\"');
    expect((await management.call("GET", `connectedRegistries/${EDGE}`)).body.repositoryFilters).toEqual([FILTER]);

    const widened = { repository: APP, tags: { include: ["v.*", "dev-.*"], exclude: ["v1\\.2\\..*"] }, platforms: ["linux/amd64", "linux/arm64"] };
    await expectStatus(management.call("PATCH", `connectedRegistries/${EDGE}`, { repositoryFilters: [widened] }), 200);
    await tagsAtEdge(["v1.0.0", "v1.3.0", "v1.9.9", "v2.0.0", "dev-abc", "dev-xyz"], "the edge follows the new filter");
    // The index already here gets the platform the filter now keeps.
    const [amd64] = index.platforms as [Platform, Platform];
    await eventually(async () => (await getManifest(edge.url, reader, APP, amd64.manifest)).status === 200, CONVERGE_MS, "the amd64 manifest arrives");
    expect(await stored(edge.dataDir, amd64.layer)).toBe(true);

    // Narrowing the platforms again deletes the platform left out (GC then frees its blobs).
    await expectStatus(management.call("PATCH", `connectedRegistries/${EDGE}`, { repositoryFilters: [{ ...widened, platforms: ["linux/arm64"] }] }), 200);
    await eventually(async () => (await getManifest(edge.url, reader, APP, amd64.manifest)).status === 404, CONVERGE_MS, "the amd64 manifest leaves");
    expect((await getManifest(edge.url, reader, APP, "v1.0.0")).digest).toBe(index.digest);

    // Removing the filter keeps everything.
    await expectStatus(management.call("PATCH", `connectedRegistries/${EDGE}`, { repositoryFilters: [] }), 200);
    await tagsAtEdge(["v1.0.0", "v1.2.3", "v1.3.0", "v1.9.9", "v2.0.0", "dev-abc", "dev-xyz", "x-idx"], "the edge keeps every tag without a filter");
  }, 180_000);

  it("the CLI sets one repository's filter, replaces the list from a file, and reports a bad regex without changing anything", async () => {
    const other = "filtered/other";
    const json = (out: { stdout: string }): any => JSON.parse(out.stdout);
    const created = await cli("connected-registry", "create", "--name", "clifilters", "--repository", APP, other, "--filter", APP, "--tag-include", "v.*", "--semver", ">=1.0 <2", "--platforms", "linux/amd64,linux/arm64", "-o", "json");
    expect(created.code, created.stderr).toBe(0);
    expect(json(created).repositoryFilters).toEqual([{ repository: APP, tags: { include: ["v.*"], semver: ">=1.0 <2" }, platforms: ["linux/amd64", "linux/arm64"] }]);
    const added = await cli("connected-registry", "update", "--name", "clifilters", "--filter", other, "--tag-exclude", "dev-.*", "-o", "json");
    expect(json(added).repositoryFilters.map((f: { repository: string }) => f.repository)).toEqual([APP, other]);
    const bad = await cli("connected-registry", "update", "--name", "clifilters", "--filter", other, "--tag-include", "v{1,");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('tags.include[0] "v{1,"');
    const removed = await cli("connected-registry", "update", "--name", "clifilters", "--filter", APP, "-o", "json");
    expect(json(removed).repositoryFilters).toEqual([{ repository: other, tags: { exclude: ["dev-.*"] } }]);
    const file = join(work, "filters.json");
    await writeFile(file, JSON.stringify([{ repository: APP, platforms: ["linux/arm/v7"] }]));
    const fromFile = await cli("connected-registry", "update", "--name", "clifilters", "--filters", `@${file}`, "-o", "json");
    expect(json(fromFile).repositoryFilters).toEqual([{ repository: APP, platforms: ["linux/arm/v7"] }]);
    const table = await cli("connected-registry", "show", "--name", "clifilters");
    expect(table.stdout).toMatch(/Repository filters\s+.*linux\/arm\/v7/);
  }, 60_000);
});
