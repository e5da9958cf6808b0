/**
 * What happens to a repository's tags when it leaves the connected registry's scope
 * (docs/edge-agent.md, "Sync"). ReadOnly: every tag goes, as the edge no longer serves the
 * repository. ReadWrite: a tag whose last change was a local push (a client of this edge or a
 * child) that the upstream push has not carried to the parent yet stays, so nothing pushed here
 * is lost because an operator narrowed the scope; ACR likewise removes local content only in
 * ReadOnly mode. Tags that came from the parent, or that reached it, go.
 */
import type { ChangeLog } from "../../../shared/registry/change-log.js";
import type { MetadataStore } from "../../../shared/store/interfaces.js";
import { PARENT_SOURCE, type Applier } from "./applier.js";
import { listAll } from "./list-all.js";

export interface ScopeRemovalOptions {
  mode: "ReadOnly" | "ReadWrite" | undefined;
  metadata: MetadataStore;
  applier: Applier;
  changes: ChangeLog;
  /** The last local change-log number the parent has accepted (state.upstreamAfter). */
  upstreamAfter: number;
}

const PAGE = 1000;

/** Removes the repository's tags that may go; returns the ones kept (ReadWrite's unpushed local tags). */
export async function removeRepositoryFromScope(repository: string, options: ScopeRemovalOptions): Promise<{ removed: string[]; kept: string[] }> {
  const unpushed = options.mode === "ReadWrite" ? await unpushedLocalTags(repository, options.changes, options.upstreamAfter) : new Set<string>();
  const removed: string[] = [];
  const kept: string[] = [];
  for (const tag of await listAll((page) => options.metadata.listTags(repository, page))) {
    if (unpushed.has(tag)) {
      kept.push(tag);
      continue;
    }
    await options.applier.deleteTag(repository, tag);
    removed.push(tag);
  }
  return { removed, kept };
}

/** Tags of the repository whose last entry after `after` is a local tag.set: pushed here, not yet up. */
async function unpushedLocalTags(repository: string, changes: ChangeLog, after: number): Promise<Set<string>> {
  const lastSource = new Map<string, { kind: string; source: string | undefined }>();
  for (let from = after; ; ) {
    const entries = await changes.storedAfter(from, PAGE);
    for (const entry of entries) {
      if (entry.state !== "void" && entry.repository === repository && entry.tag) lastSource.set(entry.tag, { kind: entry.kind, source: entry.source });
    }
    if (entries.length < PAGE) break;
    from = entries[entries.length - 1]!.seq;
  }
  return new Set([...lastSource].filter(([, last]) => last.kind === "tag.set" && last.source !== PARENT_SOURCE).map(([tag]) => tag));
}
