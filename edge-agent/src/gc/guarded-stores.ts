/**
 * The edge stores with every use of existing content recorded in a UseTracker, so the
 * garbage collector can tell what a running sync, upload or pull relies on (use-tracker.ts).
 * Each call records before it touches the disk and waits while that digest is being
 * deleted, so what it then reads is the state after the deletion, never half of it.
 */
import type { ByteRange, ManifestRecord, ManifestSummary, StagingTarget, BlobLink } from "../../../shared/store/interfaces.js";
import { FsBlobStore } from "../store/fs-blob-store.js";
import { FsMetadataStore } from "../store/fs-metadata-store.js";
import type { UseTracker } from "./use-tracker.js";

export class GuardedFsBlobStore extends FsBlobStore {
  constructor(
    root: string,
    private readonly tracker: UseTracker,
  ) {
    super(root);
  }

  override async stat(digest: string): Promise<number | undefined> {
    await this.tracker.use(digest);
    return super.stat(digest);
  }

  override async read(digest: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array>> {
    await this.tracker.use(digest);
    return super.read(digest, range);
  }

  override async writeContent(digest: string, content: Uint8Array): Promise<void> {
    await this.tracker.use(digest);
    return super.writeContent(digest, content);
  }

  override async commit(target: StagingTarget, blockIds: string[]): Promise<void> {
    if (target.kind === "content") await this.tracker.use(target.digest);
    return super.commit(target, blockIds);
  }

  override async promoteUpload(uploadId: string, digest: string): Promise<void> {
    await this.tracker.use(digest);
    return super.promoteUpload(uploadId, digest);
  }

  override async partialSize(digest: string): Promise<number> {
    await this.tracker.use(digest);
    return super.partialSize(digest);
  }

  override async appendPartial(digest: string, body: AsyncIterable<Uint8Array>): Promise<number> {
    await this.tracker.use(digest);
    return super.appendPartial(digest, body);
  }

  override async completePartial(digest: string): Promise<void> {
    await this.tracker.use(digest);
    return super.completePartial(digest);
  }
}

export class GuardedFsMetadataStore extends FsMetadataStore {
  constructor(
    root: string,
    private readonly tracker: UseTracker,
  ) {
    super(root);
  }

  override async getTaggedManifest(repository: string, tag: string): Promise<ManifestRecord | undefined> {
    const manifest = await super.getTaggedManifest(repository, tag);
    // A pull that read the manifest fetches its layers next: they count as used from now.
    if (manifest) await this.tracker.useAll(namedBy(manifest));
    return manifest;
  }

  override async putTag(repository: string, tag: string, manifest: ManifestRecord): Promise<void> {
    await this.tracker.useAll(namedBy(manifest));
    return super.putTag(repository, tag, manifest);
  }

  override async getManifest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    await this.tracker.use(digest);
    const manifest = await super.getManifest(repository, digest);
    if (manifest) await this.tracker.useAll(namedBy(manifest));
    return manifest;
  }

  override async putManifest(manifest: ManifestRecord): Promise<void> {
    await this.tracker.useAll(namedBy(manifest));
    return super.putManifest(manifest);
  }

  override async listReferrers(repository: string, subjectDigest: string): Promise<ManifestSummary[]> {
    const referrers = await super.listReferrers(repository, subjectDigest);
    await this.tracker.useAll(referrers.map((referrer) => referrer.digest));
    return referrers;
  }

  override async getBlobLink(repository: string, digest: string): Promise<BlobLink | undefined> {
    await this.tracker.use(digest);
    return super.getBlobLink(repository, digest);
  }

  override async putBlobLink(repository: string, link: BlobLink): Promise<void> {
    await this.tracker.use(link.digest);
    return super.putBlobLink(repository, link);
  }

  override async refreshBlobLink(repository: string, digest: string): Promise<boolean> {
    await this.tracker.use(digest);
    return super.refreshBlobLink(repository, digest);
  }
}

/** The manifest's own digest and everything it names. */
function namedBy(manifest: Pick<ManifestRecord, "digest" | "blobDigests" | "manifestDigests">): string[] {
  return [manifest.digest, ...manifest.blobDigests, ...manifest.manifestDigests];
}
