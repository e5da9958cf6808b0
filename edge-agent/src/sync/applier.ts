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
import type { ManifestRecord } from "../../../shared/store/interfaces.js";
import { referencedContent, type ContentFetcher, type FetchedManifest, type ImageTree } from "./content-fetcher.js";
import { listAll } from "./list-all.js";
import { withReferenceLock } from "./reference-lock.js";
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
  applyTag(repository: string, tag: string, reference: string = tag, onManifest?: (digest: string) => void): Promise<boolean> {
    return withReferenceLock(this.registry, repository, tag, () => this.writeTag(repository, tag, reference, undefined, onManifest));
  }

  /**
   * A pull-through's tag: written only if the edge has no such tag, as the parent has it now
   * (`atParent` asks it, after every earlier sync write of the tag is done). The sync is the
   * source of truth for tags: what it has written, moved or deleted since the client's miss is
   * never undone. False when the tag is here already or the parent has no such tag.
   */
  addTag(repository: string, tag: string, atParent: () => Promise<FetchedManifest | undefined> = () => this.fetcher.fetchManifest(repository, tag)): Promise<boolean> {
    return withReferenceLock(this.registry, repository, tag, async () => {
      if (await this.registry.metadata.getTaggedManifest(repository, tag)) return false;
      return this.writeTag(repository, tag, tag, atParent);
    });
  }

  /** `onManifest` learns the digest the parent answered, as soon as it is known (before anything is downloaded). */
  private async writeTag(repository: string, tag: string, reference: string, atParent = () => this.fetcher.fetchManifest(repository, reference), onManifest?: (digest: string) => void): Promise<boolean> {
    const local = await this.registry.metadata.getTaggedManifest(repository, tag);
    if (local?.digest === reference) return this.fitChildren(repository, local);
    const manifest = await atParent();
    if (!manifest) return false;
    onManifest?.(manifest.digest);
    // A full sync (or a restart redoing one) finds most tags unchanged: no write, no change-log entry.
    if (local?.digest === manifest.digest) return this.fitChildren(repository, local);
    await this.writeTree(repository, await this.fetcher.completeTree(repository, manifest), { tag });
    await this.arrived(repository, tag);
    return true;
  }

  /** Stores a manifest (and everything under it) by digest, untagged. */
  applyManifest(repository: string, digest: string): Promise<boolean> {
    return withReferenceLock(this.registry, repository, digest, () => this.writeManifest(repository, digest));
  }

  private async writeManifest(repository: string, digest: string): Promise<boolean> {
    if (await this.registry.metadata.getManifest(repository, digest)) return true;
    const tree = await this.fetcher.fetchImageTree(repository, digest);
    if (!tree) return false;
    await this.writeTree(repository, tree, { digest });
    await this.arrived(repository, undefined, digest);
    return true;
  }

  /** The subject of a manifest at the parent (undefined: none, or the parent has no such manifest). */
  async subjectAtParent(repository: string, digest: string): Promise<string | undefined> {
    const manifest = await this.fetcher.fetchManifest(repository, digest);
    return manifest ? parseManifest(manifest.content, manifest.mediaType).subject?.digest : undefined;
  }

  deleteTag(repository: string, tag: string): Promise<void> {
    return withReferenceLock(this.registry, repository, tag, () => this.removeTag(repository, tag));
  }

  private async removeTag(repository: string, tag: string): Promise<void> {
    const local = await this.registry.metadata.getTaggedManifest(repository, tag);
    if (!local) return;
    await this.registry.changes.record({ repository, kind: "tag.delete", tag, source: PARENT_SOURCE }, () => this.registry.metadata.deleteTag(repository, tag));
    await this.registry.events?.emit({ action: "delete", target: { repository, tag, digest: local.digest, mediaType: local.mediaType } });
  }

  deleteManifest(repository: string, digest: string): Promise<void> {
    return withReferenceLock(this.registry, repository, digest, () => this.removeManifest(repository, digest));
  }

  private async removeManifest(repository: string, digest: string): Promise<void> {
    const local = await this.registry.metadata.getManifest(repository, digest);
    if (!local) return;
    await this.registry.changes.record({ repository, kind: "manifest.delete", digest, source: PARENT_SOURCE }, () =>
      this.registry.metadata.deleteManifest(repository, digest),
    );
    await this.registry.events?.emit({ action: "delete", target: { repository, digest, mediaType: local.mediaType } });
  }

  /**
   * An index already here, made to match the platform filter as it is now (it may have
   * changed since the index arrived): platforms it now keeps are fetched, platforms it no
   * longer keeps are deleted (unless a tag names them), so the edge's GC frees their content.
   */
  private async fitChildren(repository: string, local: ManifestRecord): Promise<true> {
    if (local.manifestDigests.length === 0) return true;
    const content = local.content ?? (await this.readStored(local.digest));
    const { metadata } = this.registry;
    let tagged: Set<string> | undefined;
    for (const child of referencedContent(content, local.mediaType).manifests) {
      const present = (await metadata.getManifest(repository, child.digest)) !== undefined;
      const kept = this.fetcher.keepsChild(repository, child);
      if (kept && !present) {
        const tree = await this.fetcher.fetchImageTree(repository, child.digest);
        if (tree) await this.writeTree(repository, tree, { digest: child.digest });
      } else if (!kept && present) {
        tagged ??= new Set(await Promise.all((await listAll((page) => metadata.listTags(repository, page))).map(async (tag) => (await metadata.getTaggedManifest(repository, tag))?.digest ?? "")));
        if (!tagged.has(child.digest)) await this.deleteManifest(repository, child.digest);
      }
    }
    return true;
  }

  private async readStored(digest: string): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of await this.registry.blobs.read(digest)) chunks.push(chunk);
    return Buffer.concat(chunks);
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
    // Children the platform filter left out are absent: the index is stored sparse, its bytes and digest the parent's.
    const fetched = new Set(tree.children.map((child) => child.manifest.digest));
    const absentChildren = new Set(parsed.manifestDigests.filter((digest) => !fetched.has(digest)));
    await storeManifest(this.registry, repository, manifest.content, manifest.mediaType, manifest.digest, target, { source: PARENT_SOURCE }, { absentChildren });
  }
}
