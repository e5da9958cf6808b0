/**
 * For the edge garbage-collection tests and benchmark: the shared registry engine over the
 * edge's file stores (guarded, as the agent builds them) served over real HTTP, a collector
 * over the same folder, a client that pushes the way docker does (HEAD each blob, upload
 * only what is missing, then the manifest), and a checker that reads a data folder with
 * the plain stores and says what a pull would find broken.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { anonymousAuthorizer } from "../../dist/shared/auth/authorizer.js";
import { startLocalHost } from "../../dist/shared/http/local-host.js";
import { ChangeLog } from "../../dist/shared/registry/change-log.js";
import { ContentPresence } from "../../dist/shared/registry/content-presence.js";
import { RunningHashes } from "../../dist/shared/registry/running-hashes.js";
import { createV2Handler } from "../../dist/shared/registry/v2-handler.js";
import { FsBlobStore } from "../../dist/edge-agent/src/store/fs-blob-store.js";
import { FsChangeStore } from "../../dist/edge-agent/src/store/fs-change-store.js";
import { FsMetadataStore } from "../../dist/edge-agent/src/store/fs-metadata-store.js";
import { GuardedFsBlobStore, GuardedFsMetadataStore } from "../../dist/edge-agent/src/gc/guarded-stores.js";
import { UseTracker } from "../../dist/edge-agent/src/gc/use-tracker.js";
import { GarbageCollector } from "../../dist/edge-agent/src/gc/collector.js";
import { ContentFetcher } from "../../dist/edge-agent/src/sync/content-fetcher.js";
import { Applier } from "../../dist/edge-agent/src/sync/applier.js";
import { RegistryHttpClient } from "../../dist/shared/remote/http-client.js";
import { OCI_INDEX, OCI_MANIFEST, RegistryClient, sha256 } from "./registry-client.js";

/**
 * A parent registry (plain stores) and an edge with a grace of 0 (only the use tracking keeps
 * what is in use), with the sync's fetcher and applier writing the parent's images into the
 * edge: what the GC race tests run a collection against.
 */
export interface GcSyncPair {
  parent: GcRegistry;
  edge: GcRegistry;
  client: InstanceType<typeof RegistryHttpClient>;
  applier: InstanceType<typeof Applier>;
  close(): Promise<void>;
}

export async function startGcSyncPair(name: string): Promise<GcSyncPair> {
  const root = await mkdtemp(join(tmpdir(), `${name}-`));
  const parent = await startGcRegistry(join(root, "parent"), { guarded: false });
  const edge = await startGcRegistry(join(root, "edge"), { graceMs: 0 });
  const client = new RegistryHttpClient({ protocol: "http", endpoint: new URL(parent.url).host, userAgent: name });
  const fetcher = new ContentFetcher(client, edge.blobs, { concurrency: 4, acceptedMediaTypes: [OCI_MANIFEST, OCI_INDEX], backoffMs: () => 5 });
  return {
    parent,
    edge,
    client,
    applier: new Applier(edge.ctx as never, fetcher),
    close: async () => {
      client.close();
      await edge.close();
      await parent.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface GcRegistry {
  url: string;
  client: RegistryClient;
  dir: string;
  blobs: InstanceType<typeof FsBlobStore>;
  metadata: InstanceType<typeof FsMetadataStore>;
  changeStore: InstanceType<typeof FsChangeStore>;
  ctx: {
    metadata: InstanceType<typeof FsMetadataStore>;
    blobs: InstanceType<typeof FsBlobStore>;
    contentPresence: InstanceType<typeof ContentPresence>;
    changes: InstanceType<typeof ChangeLog>;
  } & Record<string, unknown>;
  tracker: InstanceType<typeof UseTracker>;
  collector: InstanceType<typeof GarbageCollector>;
  close(): Promise<void>;
}

/** The engine over the data folder `dir`, as agent.ts composes it (guarded stores, one tracker, a collector). */
export async function startGcRegistry(dir: string, options: { graceMs?: number; guarded?: boolean } = {}): Promise<GcRegistry> {
  const tracker = new UseTracker();
  const guarded = options.guarded ?? true;
  const blobs = guarded ? new GuardedFsBlobStore(dir, tracker) : new FsBlobStore(dir);
  const metadata = guarded ? new GuardedFsMetadataStore(join(dir, "metadata"), tracker) : new FsMetadataStore(join(dir, "metadata"));
  const changeStore = await FsChangeStore.open(join(dir, "changes"));
  const contentPresence = new ContentPresence(blobs);
  const ctx = {
    metadata,
    blobs,
    authorizer: anonymousAuthorizer,
    options: { blobDelivery: "stream" as const },
    runningHashes: new RunningHashes(),
    contentPresence,
    changes: new ChangeLog(changeStore, { graceMs: 30_000 }),
    ...(guarded ? { holdReferences: <T>(digests: readonly string[], work: () => Promise<T>) => tracker.hold(digests, work) } : {}),
  };
  const collector = new GarbageCollector({
    blobRoot: dir,
    metadataRoot: join(dir, "metadata"),
    blobs,
    metadata,
    tracker,
    contentPresence,
    ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
  });
  const host = await startLocalHost(
    [{ name: "v2", route: "v2/{*path}", methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], handler: createV2Handler(ctx, () => undefined) }],
    [],
    { host: "127.0.0.1", port: 0, log: () => undefined },
  );
  return {
    url: host.url,
    client: new RegistryClient(host.url),
    dir,
    blobs,
    metadata,
    changeStore,
    ctx,
    tracker,
    collector,
    async close() {
      await host.close();
      await changeStore.close();
    },
  };
}

export function imageManifest(config: Buffer, layers: Buffer[], extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
      layers: layers.map((layer) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256(layer), size: layer.length })),
      ...extra,
    }),
  );
}

/**
 * Pushes like docker: HEAD each blob, upload the missing ones, PUT the manifest. Answers the
 * manifest PUT's status (201, or 400 MANIFEST_BLOB_UNKNOWN when a blob it HEADed went away).
 */
export async function pushLikeDocker(client: RegistryClient, repository: string, reference: string, blobs: Buffer[], manifest: Buffer, mediaType = OCI_MANIFEST): Promise<number> {
  for (const blob of blobs) {
    const head = await client.fetch(`/v2/${repository}/blobs/${sha256(blob)}`, { method: "HEAD" });
    if (head.status !== 200) await client.pushBlob(repository, blob);
  }
  const response = await client.putManifest(repository, reference, manifest, mediaType);
  await response.arrayBuffer();
  return response.status;
}

/** Pulls a tag over HTTP like a client and answers what is wrong (nothing: an empty list). */
export async function pullProblems(client: RegistryClient, repository: string, reference: string): Promise<string[]> {
  const response = await client.fetch(`/v2/${repository}/manifests/${reference}`, { headers: { Accept: `${OCI_MANIFEST}, application/vnd.oci.image.index.v1+json` } });
  if (response.status !== 200) return [`${repository}:${reference}: manifest answered ${response.status}`];
  const manifest = JSON.parse(Buffer.from(await response.arrayBuffer()).toString("utf8")) as { config?: { digest: string }; layers?: Array<{ digest: string }> };
  const problems: string[] = [];
  for (const digest of [manifest.config?.digest, ...(manifest.layers ?? []).map((l) => l.digest)]) {
    if (!digest) continue;
    const blob = await client.getBlob(repository, digest);
    const bytes = Buffer.from(await blob.arrayBuffer());
    if (blob.status !== 200) problems.push(`${repository}:${reference}: blob ${digest} answered ${blob.status}`);
    else if (sha256(bytes) !== digest) problems.push(`${repository}:${reference}: blob ${digest} has the wrong bytes`);
  }
  return problems;
}

/**
 * Reads a data folder with the plain stores, as an agent started on it would serve it:
 * every tag's manifest, and every stored manifest's blobs (present, right digest) and child
 * manifests. Answers the problems found.
 */
export async function storeProblems(dir: string): Promise<string[]> {
  const metadata = new FsMetadataStore(join(dir, "metadata"));
  const blobs = new FsBlobStore(dir);
  const problems: string[] = [];
  const hashes = new Map<string, string>();
  const hashOf = async (digest: string): Promise<string | undefined> => {
    if (!hashes.has(digest)) {
      if ((await blobs.stat(digest)) === undefined) return undefined;
      const hash = createHash("sha256");
      for await (const chunk of await blobs.read(digest)) hash.update(chunk);
      hashes.set(digest, `sha256:${hash.digest("hex")}`);
    }
    return hashes.get(digest);
  };
  for (const repository of await metadata.listRepositories({ limit: 100_000, after: undefined })) {
    for (const tag of await metadata.listTags(repository, { limit: 100_000, after: undefined })) {
      const tagged = await metadata.getTaggedManifest(repository, tag);
      if (!tagged) continue; // deleted since listed
      if (!(await metadata.getManifest(repository, tagged.digest))) problems.push(`${repository}:${tag} points at ${tagged.digest}, which is not stored`);
    }
    for (const digest of await metadata.listManifests(repository)) {
      const manifest = await metadata.getManifest(repository, digest);
      if (!manifest) continue;
      for (const blob of manifest.blobDigests) {
        const actual = await hashOf(blob);
        if (actual === undefined) problems.push(`${repository}@${digest} names blob ${blob}, which is not stored`);
        else if (actual !== blob) problems.push(`${repository}@${digest} names blob ${blob}, whose bytes hash to ${actual}`);
        else if (!(await metadata.getBlobLink(repository, blob))) problems.push(`${repository}@${digest} names blob ${blob}, which the repository does not link`);
      }
      for (const child of manifest.manifestDigests) {
        if (!(await metadata.getManifest(repository, child))) problems.push(`${repository}@${digest} names manifest ${child}, which is not stored`);
      }
    }
  }
  return problems;
}
