/**
 * Referrers travel with their images through a three-level hierarchy (issue 15, point 1):
 * cloud -> edge A -> edge B, real processes (the local stack, edge agents from dist/), pushes
 * and reads over the HTTP API as oras or notation would make them (no oras in Debian).
 * Every path that copies tags copies referrers: the first full sync, a repository added to
 * the scope, the full resync after an expired cursor, and the feed; deleting the subject at
 * the cloud removes them at every level. Each check compares the referrers API's whole
 * answer (body and OCI-Filters-Applied) at the three levels, `artifactType` filter included.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually, removeEdgeData, startEdge, type EdgeOptions, type EdgeProcess } from "../support/edge.js";
import { ACCEPT, basic, clientToken, expectStatus, pushRandomImage, readActions, registryFetch } from "../support/edge-e2e.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, OCI_INDEX, OCI_MANIFEST, sha256 } from "../support/registry-client.js";
import type { Credentials } from "../support/skopeo.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const CONVERGE_MS = 60_000;
const APP = "signed/app";
const LATER = "signed/later";
const SBOM = "application/spdx+json";
const SIGNATURE = "application/vnd.cncf.notary.signature";
const ATTESTATION = "application/vnd.in-toto+json";

interface Descriptor {
  digest: string;
  size: number;
  mediaType: string;
}

let stack: TestStack;
let management: ManagementClient;
let pusher: AuthorizedClient;
let admin: Credentials;
let reader: Credentials;
let edgeA: EdgeProcess;
let edgeB: EdgeProcess;
let connectionA: string;
const started: EdgeProcess[] = [];

async function edgeProcess(options: EdgeOptions): Promise<EdgeProcess> {
  const edge = await startEdge(options);
  started.push(edge);
  return edge;
}

/** An artifact manifest (empty config, one random blob) whose subject is `subject`, pushed by digest as oras attach does. */
function pushArtifact(repository: string, subject: Descriptor, artifactType: string): Promise<Descriptor> {
  return pusher.pushArtifact(repository, subject, artifactType, { "org.opencontainers.image.created": new Date().toISOString(), "org.example.kind": artifactType });
}

async function pushImage(repository: string, tag: string): Promise<Descriptor> {
  const image = await pushRandomImage(pusher, repository, tag);
  return { digest: image.digest, size: image.manifest.length, mediaType: OCI_MANIFEST };
}

/** A two-platform OCI index under `tag`; its platform manifests are pushed by digest. */
async function pushIndex(repository: string, tag: string): Promise<{ index: Descriptor; platforms: Descriptor[] }> {
  const platforms: Descriptor[] = [];
  for (const architecture of ["amd64", "arm64"]) {
    const config = Buffer.from(JSON.stringify({ architecture, os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") }));
    const layer = randomBytes(512);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: await pusher.pushBlob(repository, config), size: config.length },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: await pusher.pushBlob(repository, layer), size: layer.length }],
      }),
    );
    expect((await pusher.putManifest(repository, sha256(manifest), manifest)).status).toBe(201);
    platforms.push({ digest: sha256(manifest), size: manifest.length, mediaType: OCI_MANIFEST });
  }
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: platforms.map((platform, i) => ({ ...platform, platform: { os: "linux", architecture: i === 0 ? "amd64" : "arm64" } })),
    }),
  );
  expect((await pusher.putManifest(repository, tag, index, OCI_INDEX)).status).toBe(201);
  return { index: { digest: sha256(index), size: index.length, mediaType: OCI_INDEX }, platforms };
}

/** The referrers API's answer: status, OCI-Filters-Applied, and the body as parsed JSON. */
async function referrersAt(baseUrl: string, creds: Credentials, repository: string, subject: string, artifactType?: string): Promise<Record<string, unknown>> {
  const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : "";
  const response = await registryFetch(baseUrl, `/v2/${repository}/referrers/${subject}${query}`, creds, { headers: { Accept: OCI_INDEX } });
  return { status: response.status, filters: response.headers.get("oci-filters-applied"), body: await response.json() };
}

/**
 * Waits until edge A and edge B answer the referrers of `subject` exactly as the cloud does,
 * and the cloud lists `expected` (digests); returns the cloud's answer.
 */
async function sameAtEveryLevel(repository: string, subject: string, expected: string[], artifactType?: string): Promise<Record<string, any>> {
  const cloud = await referrersAt(stack.registryUrl, admin, repository, subject, artifactType);
  expect(((cloud.body as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest)).sort(), `the cloud's referrers of ${subject}`).toEqual([...expected].sort());
  for (const [name, edge] of [["edge A", edgeA], ["edge B", edgeB]] as const) {
    let last: unknown;
    await eventually(
      async () => {
        last = await referrersAt(edge.url, reader, repository, subject, artifactType);
        return JSON.stringify(last) === JSON.stringify(cloud);
      },
      CONVERGE_MS,
      `${name} answers the referrers of ${repository}@${subject}${artifactType ? ` (artifactType ${artifactType})` : ""} as the cloud does`,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\ncloud: ${JSON.stringify(cloud)}\n${name}: ${JSON.stringify(last)}`);
    });
  }
  return cloud;
}

async function servesManifest(baseUrl: string, creds: Credentials, repository: string, digest: string): Promise<boolean> {
  const response = await registryFetch(baseUrl, `/v2/${repository}/manifests/${digest}`, creds, { method: "HEAD", headers: { Accept: ACCEPT } });
  return response.status === 200;
}

function syncedAfter(edge: EdgeProcess, what: string, after = ""): Promise<unknown> {
  return eventually(
    async () => {
      const status = await edge.status();
      return status.fullSyncDone && status.lastSyncTime && String(status.lastSyncTime) > after ? status : undefined;
    },
    CONVERGE_MS,
    `${what}: a completed sync cycle`,
  );
}

/** Pushed before edge A was activated. */
let v1: Descriptor;
let sbom: Descriptor;
let signature: Descriptor;
let sbomSignature: Descriptor;
let multi: { index: Descriptor; platforms: Descriptor[] };
let multiSignature: Descriptor;
let platformAttestation: Descriptor;
let laterImage: Descriptor;
let laterSignature: Descriptor;

beforeAll(async () => {
  stack = await startTestStack({ anonymous: false });
  management = new ManagementClient(stack.registryUrl);
  admin = { username: "refadmin", password: await management.tokenWithPassword("refadmin", { scopeMap: "_repositories_admin" }) };
  pusher = new AuthorizedClient(stack.registryUrl, basic(admin));
  reader = await clientToken(management, "refreader", readActions(APP, LATER));

  v1 = await pushImage(APP, "v1");
  sbom = await pushArtifact(APP, v1, SBOM);
  signature = await pushArtifact(APP, v1, SIGNATURE);
  sbomSignature = await pushArtifact(APP, sbom, SIGNATURE);
  multi = await pushIndex(APP, "multi");
  multiSignature = await pushArtifact(APP, multi.index, SIGNATURE);
  platformAttestation = await pushArtifact(APP, multi.platforms[1]!, ATTESTATION);
  laterImage = await pushImage(LATER, "v1");
  laterSignature = await pushArtifact(LATER, laterImage, SIGNATURE);

  connectionA = await createConnectedRegistry(management, { name: "refedgea", repositories: [APP], clientTokens: [reader.username] });
  edgeA = await edgeProcess({ connectionString: connectionA, advertise: true });
  await syncedAfter(edgeA, "edge A");
  const connectionB = await createConnectedRegistry(management, { name: "refedgeb", parent: "refedgea", repositories: [APP], clientTokens: [reader.username] });
  edgeB = await edgeProcess({ connectionString: connectionB });
  await syncedAfter(edgeB, "edge B");
}, 180_000);

afterAll(async () => {
  // Every agent stops before any folder goes: a restarted agent shares its folder with the stopped one.
  const edges = started.splice(0);
  await Promise.all(edges.map((edge) => edge.kill().catch(() => {})));
  for (const dataDir of new Set(edges.map((edge) => edge.dataDir))) await removeEdgeData(dataDir);
  await stack?.destroy();
});

describe("referrers at the edges", () => {
  it("the first full sync brings referrers pushed before activation, recursively, at both levels, artifactType filter included", async () => {
    const all = await sameAtEveryLevel(APP, v1.digest, [sbom.digest, signature.digest]);
    expect(all.filters).toBeNull();
    const sboms = await sameAtEveryLevel(APP, v1.digest, [sbom.digest], SBOM);
    expect(sboms.filters).toBe("artifactType");
    await sameAtEveryLevel(APP, v1.digest, [], "application/vnd.example.none");
    // A referrer of a referrer: the SBOM's signature.
    await sameAtEveryLevel(APP, sbom.digest, [sbomSignature.digest]);
    // Of an index, and of one of its platform manifests.
    await sameAtEveryLevel(APP, multi.index.digest, [multiSignature.digest]);
    await sameAtEveryLevel(APP, multi.platforms[1]!.digest, [platformAttestation.digest], ATTESTATION);
    // The referrers are served by digest like any manifest (a verifier pulls them).
    for (const edge of [edgeA, edgeB]) expect(await servesManifest(edge.url, reader, APP, sbomSignature.digest)).toBe(true);
  }, 180_000);

  it("the feed brings referrers pushed after activation, to an image synced before and to a new one", async () => {
    const lateSignature = await pushArtifact(APP, v1, SIGNATURE);
    const v2 = await pushImage(APP, "v2");
    const v2Sbom = await pushArtifact(APP, v2, SBOM);
    const v2SbomSignature = await pushArtifact(APP, v2Sbom, SIGNATURE);
    await sameAtEveryLevel(APP, v1.digest, [sbom.digest, signature.digest, lateSignature.digest]);
    await sameAtEveryLevel(APP, v1.digest, [signature.digest, lateSignature.digest], SIGNATURE);
    await sameAtEveryLevel(APP, v2.digest, [v2Sbom.digest]);
    await sameAtEveryLevel(APP, v2Sbom.digest, [v2SbomSignature.digest]);
  }, 180_000);

  it("a repository added to the scope brings its referrers", async () => {
    await expectStatus(management.call("POST", "connectedRegistries/refedgea/permissions", { addRepositories: [LATER] }), 200);
    await expectStatus(management.call("POST", "connectedRegistries/refedgeb/permissions", { addRepositories: [LATER] }), 200);
    await sameAtEveryLevel(LATER, laterImage.digest, [laterSignature.digest]);
  }, 180_000);

  it("a full resync after an expired cursor brings referrers the feed no longer carries", async () => {
    // Edge A is down while an image and its referrers are pushed; then the operator starts a new
    // epoch of the cloud's change log, so A's cursor expires and it walks instead of reading the
    // feed: the referrers reach A only through the walk, and B through A's feed.
    const port = Number(edgeA.host.split(":")[1]);
    await edgeA.stop();
    const v3 = await pushImage(APP, "v3");
    const v3Signature = await pushArtifact(APP, v3, SIGNATURE);
    const v3SignatureAttestation = await pushArtifact(APP, v3Signature, ATTESTATION);
    await expectStatus(management.call("POST", "changeLog/epoch"), 200);
    const restartedAt = new Date().toISOString();
    edgeA = await edgeProcess({ connectionString: connectionA, advertise: true, dataDir: edgeA.dataDir, port });
    await syncedAfter(edgeA, "edge A after the new epoch", restartedAt);
    expect(edgeA.logs.some((entry) => entry.message === "the parent cannot continue the feed from this cursor: doing a full resync")).toBe(true);
    await sameAtEveryLevel(APP, v3.digest, [v3Signature.digest]);
    await sameAtEveryLevel(APP, v3Signature.digest, [v3SignatureAttestation.digest]);
  }, 180_000);

  it("deleting the subject at the cloud removes its referrers, and theirs, at every level", async () => {
    expect((await pusher.fetch(`/v2/${APP}/manifests/v1`, { method: "DELETE" })).status).toBe(202);
    expect((await pusher.fetch(`/v2/${APP}/manifests/${v1.digest}`, { method: "DELETE" })).status).toBe(202);
    await sameAtEveryLevel(APP, v1.digest, []);
    await sameAtEveryLevel(APP, sbom.digest, []);
    for (const edge of [edgeA, edgeB]) {
      await eventually(async () => !(await servesManifest(edge.url, reader, APP, sbomSignature.digest)), CONVERGE_MS, "the SBOM's signature gone at the edge");
      expect(await servesManifest(edge.url, reader, APP, sbom.digest)).toBe(false);
    }
    // The other images keep theirs.
    await sameAtEveryLevel(APP, multi.index.digest, [multiSignature.digest]);
  }, 180_000);
});
