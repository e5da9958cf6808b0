/**
 * The shared registry engine's context over an edge's file stores, as the edge agent composes
 * it (anonymous access, blobs streamed, the change log in `changesDir`): for tests that drive
 * the engine in-process over real files. `pullThroughEdge` adds the pull-through in front of
 * it and a sync fetcher over the same stores, for tests of the two writers racing.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { anonymousAuthorizer } from "../../dist/shared/auth/authorizer.js";
import { createV2Handler } from "../../dist/shared/registry/v2-handler.js";
import { RegistryHttpClient } from "../../dist/shared/remote/http-client.js";
import { FsBlobStore } from "../../dist/edge-agent/src/store/fs-blob-store.js";
import { FsMetadataStore } from "../../dist/edge-agent/src/store/fs-metadata-store.js";
import { BandwidthLimit } from "../../dist/edge-agent/src/sync/bandwidth.js";
import { ContentFetcher } from "../../dist/edge-agent/src/sync/content-fetcher.js";
import { pullThroughHandler } from "../../dist/edge-agent/src/pull-through/pull-through.js";
import { createLogger } from "../../dist/edge-agent/src/log.js";
import { OCI_MANIFEST } from "./registry-client.js";
import { ChangeLog } from "../../dist/shared/registry/change-log.js";
import { ContentPresence } from "../../dist/shared/registry/content-presence.js";
import type { RegistryContext } from "../../dist/shared/registry/context.js";
import { RunningHashes } from "../../dist/shared/registry/running-hashes.js";
import { FsChangeStore } from "../../dist/edge-agent/src/store/fs-change-store.js";

/** `changeStore`: opened by the caller, who closes it (its append handle is not left to the garbage collector). */
export async function fileRegistryContext<M extends RegistryContext["metadata"], B extends RegistryContext["blobs"]>(
  metadata: M,
  blobs: B,
  changeStore: InstanceType<typeof FsChangeStore>,
): Promise<RegistryContext & { metadata: M; blobs: B }> {
  return {
    metadata,
    blobs,
    authorizer: anonymousAuthorizer,
    options: { blobDelivery: "stream" as const },
    runningHashes: new RunningHashes(),
    contentPresence: new ContentPresence(blobs),
    changes: new ChangeLog(changeStore, { graceMs: 30_000 }),
  };
}

export interface PullThroughEdge {
  /** The data folder (a temporary one). */
  dir: string;
  blobs: InstanceType<typeof FsBlobStore>;
  registry: RegistryContext & { metadata: InstanceType<typeof FsMetadataStore>; blobs: InstanceType<typeof FsBlobStore> };
  /** The edge's /v2/ handler: the engine, with misses pulled through from the parent. */
  edge: ReturnType<typeof pullThroughHandler>;
  /** A sync fetcher over the same stores (agent.ts wires one for the sync, one for pull-through). */
  syncFetcher(): InstanceType<typeof ContentFetcher>;
  close(): Promise<void>;
}

/** An edge over file stores in a new folder whose misses of `repositories` pull through from the parent at `endpoint` (no auth, no budget). */
export async function pullThroughEdge(name: string, endpoint: string, repositories: () => string[]): Promise<PullThroughEdge> {
  const dir = await mkdtemp(join(tmpdir(), `${name}-`));
  const blobs = new FsBlobStore(dir);
  const changeStore = await FsChangeStore.open(join(dir, "changes"));
  const registry = await fileRegistryContext(new FsMetadataStore(join(dir, "metadata")), blobs, changeStore);
  const client = new RegistryHttpClient({ protocol: "http", endpoint, userAgent: name });
  const edge = pullThroughHandler({
    inner: createV2Handler(registry, () => undefined),
    registry,
    client,
    blobs,
    setting: { concurrency: 2 },
    repositories,
    bandwidth: new BandwidthLimit(),
    acceptedMediaTypes: [OCI_MANIFEST],
    room: undefined,
    onBytes: () => undefined,
    log: createLogger("none"),
  });
  return {
    dir,
    blobs,
    registry,
    edge,
    syncFetcher: () => new ContentFetcher(client, blobs, { concurrency: 2, acceptedMediaTypes: [OCI_MANIFEST], backoffMs: () => 10 }),
    close: async () => {
      client.close();
      await changeStore.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
