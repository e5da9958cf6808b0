/**
 * Writes what the parent has into the local registry, in the order that keeps every
 * reader safe: blobs (verified) before the manifests that need them, child manifests
 * before their index, and the tag last. Each step goes through the same engine code a
 * client push takes (`storeManifest`), so records and change-log entries are identical,
 * marked as coming from the parent (children read them; the upstream push skips them).
 */
import { parseManifest } from "../../../shared/domain/manifest.js";
import type { RegistryContext } from "../../../shared/registry/context.js";
import { storeManifest } from "../../../shared/registry/manifests.js";
import type { ContentFetcher, ImageTree } from "./content-fetcher.js";
import type { SyncWindow } from "./sync-window.js";

/** The change-log source of what came from the parent: not a name any connected registry can have. */
export const PARENT_SOURCE = "(parent)";

export class Applier {
  constructor(
    private readonly registry: RegistryContext,
    private readonly fetcher: ContentFetcher,
    /** Nothing is written once the sync window has closed: an image is whole and tagged, or not there. */
    private readonly window?: SyncWindow,
  ) {}

  /**
   * Makes the local tag what the parent has at `reference` (the tag itself, or the digest
   * a feed entry named). Returns false when the parent no longer has it.
   */
  async applyTag(repository: string, tag: string, reference: string = tag): Promise<boolean> {
    const local = await this.registry.metadata.getTaggedManifest(repository, tag);
    if (local?.digest === reference) return true;
    const manifest = await this.fetcher.fetchManifest(repository, reference);
    if (!manifest) return false;
    // A full sync (or a restart redoing one) finds most tags unchanged: no write, no change-log entry.
    if (local?.digest === manifest.digest) return true;
    await this.writeTree(repository, await this.fetcher.completeTree(repository, manifest), { tag });
    await this.arrived(repository, tag);
    return true;
  }

  /** Stores a manifest (and everything under it) by digest, untagged. */
  async applyManifest(repository: string, digest: string): Promise<boolean> {
    if (await this.registry.metadata.getManifest(repository, digest)) return true;
    const tree = await this.fetcher.fetchImageTree(repository, digest);
    if (!tree) return false;
    await this.writeTree(repository, tree, { digest });
    await this.arrived(repository, undefined, digest);
    return true;
  }

  async deleteTag(repository: string, tag: string): Promise<void> {
    const local = await this.registry.metadata.getTaggedManifest(repository, tag);
    if (!local) return;
    await this.registry.changes.record({ repository, kind: "tag.delete", tag, source: PARENT_SOURCE }, () => this.registry.metadata.deleteTag(repository, tag));
    await this.registry.events?.emit({ action: "delete", target: { repository, tag, digest: local.digest, mediaType: local.mediaType } });
  }

  async deleteManifest(repository: string, digest: string): Promise<void> {
    const local = await this.registry.metadata.getManifest(repository, digest);
    if (!local) return;
    await this.registry.changes.record({ repository, kind: "manifest.delete", digest, source: PARENT_SOURCE }, () =>
      this.registry.metadata.deleteManifest(repository, digest),
    );
    await this.registry.events?.emit({ action: "delete", target: { repository, digest, mediaType: local.mediaType } });
  }

  /** An image arrived: the edge's notifications (edge-agent/src/notifications.ts) report it if it matches. */
  private async arrived(repository: string, tag: string | undefined, digest?: string): Promise<void> {
    if (!this.registry.events) return;
    const record = tag ? await this.registry.metadata.getTaggedManifest(repository, tag) : await this.registry.metadata.getManifest(repository, digest!);
    if (!record) return;
    await this.registry.events.emit({ action: "push", target: { repository, ...(tag ? { tag } : {}), digest: record.digest, mediaType: record.mediaType, size: record.size } });
  }

  /** Children first, then this manifest: the fetcher has already verified and stored every blob. */
  private async writeTree(repository: string, tree: ImageTree, target: { tag: string } | { digest: string }): Promise<void> {
    this.window?.throwIfClosed();
    for (const child of tree.children) {
      if (!(await this.registry.metadata.getManifest(repository, child.manifest.digest))) {
        await this.writeTree(repository, child, { digest: child.manifest.digest });
      }
    }
    const { manifest } = tree;
    const parsed = parseManifest(manifest.content, manifest.mediaType);
    // The links are independent of each other (each one file, fsynced): written side by side.
    await Promise.all(
      parsed.blobDigests.map(async (digest) => {
        const size = await this.registry.blobs.stat(digest);
        if (size === undefined) throw new Error(`blob ${digest} of ${repository}@${manifest.digest} is not in the local store after its download`);
        await this.registry.metadata.putBlobLink(repository, { digest, size });
      }),
    );
    await storeManifest(this.registry, repository, manifest.content, manifest.mediaType, manifest.digest, target, { source: PARENT_SOURCE });
  }
}
