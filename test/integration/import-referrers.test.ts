/**
 * Import copies an image's referrers (signatures, SBOMs, and their own referrers) by default,
 * and not with `includeReferrers: false` / `registry-admin import --no-referrers` (docs/import.md).
 * Sources: this registry (its referrers API), and CNCF distribution 2.8 (`docker-registry`, no
 * referrers API: a 404), holding the OCI tag schema's `sha256-<hex>` index for one image and
 * nothing for another. The target is the real local stack with auth on; artifacts are pushed
 * with plain HTTP as oras would push them.
 */
import { execFile, type ExecFileException } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDistributionRegistry, type DistributionRegistry } from "../support/distribution.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, OCI_INDEX, OCI_MANIFEST, RegistryClient, basicAuthorization, sha256 } from "../support/registry-client.js";
import { TEST_ADMIN_KEY, startTestStack, type TestStack } from "../support/stack.js";

const BIN = join(import.meta.dirname, "../../dist/scripts/admin-cli/main.js");
const SBOM = "application/spdx+json";
const SIGNATURE = "application/vnd.cncf.notary.signature";

interface Descriptor {
  digest: string;
  size: number;
  mediaType: string;
}

let stack: TestStack;
let management: ManagementClient;
let cloud: AuthorizedClient;
let peer: DistributionRegistry;
let peerClient: RegistryClient;
let workDir: string;

/** distribution 2.8 takes no monolithic POST ?digest=: a POST opens the upload, a PUT ?digest= closes it. */
class TwoStepClient extends RegistryClient {
  override async pushBlob(repository: string, bytes: Uint8Array): Promise<string> {
    const digest = sha256(bytes);
    const opened = await this.fetch(`/v2/${repository}/blobs/uploads/`, { method: "POST" });
    if (opened.status !== 202) throw new Error(`upload POST answered ${opened.status}: ${await opened.text()}`);
    const location = new URL(opened.headers.get("location")!, this.baseUrl);
    location.searchParams.set("digest", digest);
    const closed = await fetch(location, { method: "PUT", headers: { "Content-Type": "application/octet-stream" }, body: bytes });
    if (closed.status !== 201) throw new Error(`upload PUT answered ${closed.status}: ${await closed.text()}`);
    return digest;
  }
}

async function pushImage(client: RegistryClient, repository: string, tag: string): Promise<Descriptor> {
  const image = await client.pushImage(repository, tag);
  return { digest: image.digest, size: image.manifest.length, mediaType: OCI_MANIFEST };
}

function pushArtifact(client: RegistryClient, repository: string, subject: Descriptor, artifactType: string): Promise<Descriptor> {
  return client.pushArtifact(repository, subject, artifactType);
}

async function referrers(repository: string, subject: string): Promise<string[]> {
  const response = await cloud.fetch(`/v2/${repository}/referrers/${subject}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest).sort();
}

async function importOk(body: Record<string, unknown>): Promise<Record<string, any>> {
  const response = await management.call("POST", "import", { wait: true, ...body });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  expect(response.body.status, JSON.stringify(response.body.error)).toBe("Succeeded");
  return response.body;
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: process.env.PATH, HOME: workDir, REGISTRY_ENDPOINT: stack.registryUrl, REGISTRY_ADMIN_KEY: TEST_ADMIN_KEY };
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 120_000, killSignal: "SIGKILL" }, (error: ExecFileException | null, stdout, stderr) => {
      if (error && typeof error.code !== "number") reject(error);
      else resolve({ code: error ? Number(error.code) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

beforeAll(async () => {
  [stack, peer] = await Promise.all([startTestStack({ anonymous: false }), startDistributionRegistry()]);
  management = new ManagementClient(stack.registryUrl);
  const password = await management.tokenWithPassword("refimporter", { scopeMap: "_repositories_admin" });
  cloud = new AuthorizedClient(stack.registryUrl, basicAuthorization("refimporter", password));
  peerClient = new TwoStepClient(peer.url);
  workDir = await mkdtemp(join(tmpdir(), "import-referrers-"));
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([stack?.destroy(), peer?.stop()]);
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("import with referrers", () => {
  it("copies the referrers of an image of this registry, recursively, by default; none with includeReferrers false", async () => {
    const image = await pushImage(cloud, "src/app", "v1");
    const sbom = await pushArtifact(cloud, "src/app", image, SBOM);
    const signature = await pushArtifact(cloud, "src/app", image, SIGNATURE);
    const sbomSignature = await pushArtifact(cloud, "src/app", sbom, SIGNATURE);

    const operation = await importOk({ source: "src/app:v1", targetTags: ["dst/app:v1"] });
    expect(operation.includeReferrers).toBe(true);
    expect([...operation.referrers].sort()).toEqual([sbom.digest, signature.digest, sbomSignature.digest].sort());
    expect(await referrers("dst/app", image.digest)).toEqual([sbom.digest, signature.digest].sort());
    expect(await referrers("dst/app", sbom.digest)).toEqual([sbomSignature.digest]);
    // Whole artifacts: the signature's blobs came too.
    const pulled = await cloud.fetch(`/v2/dst/app/manifests/${sbomSignature.digest}`, { headers: { Accept: OCI_MANIFEST } });
    expect(pulled.status).toBe(200);
    const layer = ((await pulled.json()) as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    expect((await cloud.fetch(`/v2/dst/app/blobs/${layer}`, { method: "HEAD" })).status).toBeLessThan(400);

    const without = await importOk({ source: "src/app:v1", targetTags: ["bare/app:v1"], includeReferrers: false });
    expect(without.includeReferrers).toBe(false);
    expect(without.referrers).toEqual([]);
    expect(await referrers("bare/app", image.digest)).toEqual([]);
    expect((await cloud.fetch(`/v2/bare/app/manifests/${sbom.digest}`, { method: "HEAD", headers: { Accept: OCI_MANIFEST } })).status).toBe(404);
  }, 60_000);

  it("copies referrers from docker-registry 2.8 through the OCI tag schema, and imports quietly when there is none", async () => {
    // distribution 2.8 has no referrers API: clients (oras, notation) keep an index of the
    // referrers under the tag sha256-<hex> of the subject.
    expect((await peerClient.fetch(`/v2/peer/app/referrers/${sha256("x")}`)).status).toBe(404);
    const image = await pushImage(peerClient, "peer/app", "v1");
    const signature = await pushArtifact(peerClient, "peer/app", image, SIGNATURE);
    const schemaIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...signature, artifactType: SIGNATURE }] };
    expect((await peerClient.putManifest("peer/app", image.digest.replace(":", "-"), schemaIndex, OCI_INDEX)).status).toBe(201);
    const plain = await pushImage(peerClient, "peer/plain", "v1");

    const operation = await importOk({ source: `${peer.host}/peer/app:v1`, targetTags: ["frompeer/app:v1"] });
    expect(operation.referrers).toEqual([signature.digest]);
    expect(await referrers("frompeer/app", image.digest)).toEqual([signature.digest]);
    // The schema's tag is the source's bookkeeping, not copied: this registry answers the referrers API.
    const tags = (await (await cloud.fetch("/v2/frompeer/app/tags/list")).json()) as { tags: string[] };
    expect(tags.tags).toEqual(["v1"]);

    const quiet = await importOk({ source: `${peer.host}/peer/plain:v1`, targetTags: ["frompeer/plain:v1"] });
    expect(quiet.digest).toBe(plain.digest);
    expect(quiet.referrers).toEqual([]);
  }, 60_000);

  it("registry-admin import --no-referrers copies the image only; without it the referrers come", async () => {
    const image = await pushImage(cloud, "cli/src", "v1");
    const signature = await pushArtifact(cloud, "cli/src", image, SIGNATURE);

    const skipped = await cli(["import", "--source", "cli/src:v1", "--image", "cli/bare:v1", "--no-referrers", "--output", "json"]);
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(JSON.parse(skipped.stdout)).toMatchObject({ status: "Succeeded", includeReferrers: false, referrers: [] });
    expect(await referrers("cli/bare", image.digest)).toEqual([]);

    const copied = await cli(["import", "--source", "cli/src:v1", "--image", "cli/full:v1"]);
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stdout).toContain(signature.digest);
    expect(await referrers("cli/full", image.digest)).toEqual([signature.digest]);
  }, 60_000);
});
