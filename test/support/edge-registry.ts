/**
 * The shared registry engine's context over an edge's file stores, as the edge agent composes
 * it (anonymous access, blobs streamed, the change log in `changesDir`): for tests that drive
 * the engine in-process over real files.
 */
import { anonymousAuthorizer } from "../../dist/shared/auth/authorizer.js";
import { ChangeLog } from "../../dist/shared/registry/change-log.js";
import { ContentPresence } from "../../dist/shared/registry/content-presence.js";
import type { RegistryContext } from "../../dist/shared/registry/context.js";
import { RunningHashes } from "../../dist/shared/registry/running-hashes.js";
import { FsChangeStore } from "../../dist/edge-agent/src/store/fs-change-store.js";

export async function fileRegistryContext<M extends RegistryContext["metadata"], B extends RegistryContext["blobs"]>(
  metadata: M,
  blobs: B,
  changesDir: string,
): Promise<RegistryContext & { metadata: M; blobs: B }> {
  return {
    metadata,
    blobs,
    authorizer: anonymousAuthorizer,
    options: { blobDelivery: "stream" as const },
    runningHashes: new RunningHashes(),
    contentPresence: new ContentPresence(blobs),
    changes: new ChangeLog(await FsChangeStore.open(changesDir), { graceMs: 30_000 }),
  };
}
