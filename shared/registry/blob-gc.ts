/**
 * Garbage collection of blobs no manifest references (the `collect-garbage` timer). Without
 * transactions, it must never delete a blob a push is about to use. So:
 *
 * - Young content is never looked at: a blob written within the grace period may belong to
 *   a push whose manifest has not arrived yet.
 * - A blob found unreferenced is only marked. It is deleted at a later run, at least a
 *   grace period after the mark, if it is still unreferenced (looked up afresh) and no
 *   repository's link to it was used since shortly before the mark: a manifest PUT that
 *   relies on a link refreshes it when older than `linkRefreshMs`, and the collector spares
 *   links used within that window before the mark. A manifest PUT that checked its links
 *   before the mark has long written its manifest by the time the grace period is over.
 * - The deletion itself is conditional: each link only if no push refreshed it since the
 *   collector read it, and the content only if no upload wrote it again since it was listed
 *   (uploads of existing content rewrite it rather than trust it; a manifest PUT refreshes a
 *   link it relies on when the link is old, and fails as MANIFEST_BLOB_UNKNOWN when the
 *   link is already gone, so the client uploads the blob again).
 *
 * Each run looks at most `limit` candidates, is idempotent, and can run on several
 * instances at once (marks are deleted only if unchanged).
 */
import type { ContentInventory, GcIndex } from "../store/gc-index.js";

export interface GarbageCollectionOptions {
  graceMs: number;
  /** As the registry's `linkRefreshMs`: links used within this window before a mark spare the blob. */
  linkRefreshMs: number;
  limit: number;
  now?: () => number;
  log?: (message: string) => void;
}

export interface GarbageCollectionReport {
  examined: number;
  marked: number;
  deleted: number;
  spared: number;
}

export async function collectGarbage(
  index: GcIndex,
  inventory: ContentInventory,
  options: GarbageCollectionOptions,
): Promise<GarbageCollectionReport> {
  const now = options.now ?? Date.now;
  const report: GarbageCollectionReport = { examined: 0, marked: 0, deleted: 0, spared: 0 };
  const referenced = await index.referencedDigests();
  const marks = await index.marks();

  // Marks of blobs referenced again: the blob is in use, the mark goes.
  for (const [digest, mark] of marks) if (referenced.has(digest)) await index.deleteMark(digest, mark.version);

  for await (const { digest, lastModified, version } of inventory.listContent()) {
    if (report.examined >= options.limit) break;
    if (referenced.has(digest) || now() - lastModified.getTime() < options.graceMs) continue;
    report.examined++;
    const mark = marks.get(digest);
    if (!mark) {
      await index.putMark(digest, now());
      report.marked++;
      continue;
    }
    if (now() - mark.markedAt < options.graceMs) continue;

    const links = await index.linksOf(digest);
    const usedSince = mark.markedAt - options.linkRefreshMs;
    if (links.some((link) => link.usedAt !== undefined && Date.parse(link.usedAt) >= usedSince) || (await index.isReferenced(digest))) {
      // In use again: look at it afresh another time.
      await index.deleteMark(digest, mark.version);
      report.spared++;
      continue;
    }
    // Another instance may be deleting it too, or a push just claimed it: only the one that removes the mark goes on.
    if (!(await index.deleteMark(digest, mark.version))) continue;
    // Links go only if no push refreshed them since they were read; content only if no upload rewrote it since listed.
    let claimed = false;
    for (const link of links) if (!(await index.deleteLink(link.repository, digest, link.version))) claimed = true;
    if (claimed || !(await inventory.deleteContent(digest, version))) {
      report.spared++;
      options.log?.(`collect-garbage: a push used ${digest} while it was being collected; it stays`);
      continue;
    }
    report.deleted++;
  }
  options.log?.(
    `collect-garbage: examined ${report.examined} unreferenced blobs: marked ${report.marked}, deleted ${report.deleted}, spared ${report.spared} in use again`,
  );
  return report;
}
