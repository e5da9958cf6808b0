/** A feed page's entries as the protocol shows them (docs/sync-protocol.md, section 4). */
import type { FeedEntry } from "../registry/change-log.js";

export type FeedChange = Pick<FeedEntry, "seq" | "repository" | "kind" | "digest" | "tag" | "mediaType" | "state" | "createdAt" | "source">;

/** The entries of the connected registry's repositories; the cursor still moves past the others. */
export function feedChanges(entries: FeedEntry[], repositories: readonly string[]): FeedChange[] {
  const inScope = new Set(repositories);
  return entries
    .filter((entry) => inScope.has(entry.repository))
    .map(({ seq, repository, kind, digest, tag, mediaType, state, createdAt, source }) => ({ seq, repository, kind, digest, tag, mediaType, state, createdAt, source }));
}
