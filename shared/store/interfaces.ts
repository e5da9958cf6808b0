/**
 * What the registry engine needs from storage, and nothing more. The cloud implements
 * these on Cosmos DB and Blob Storage; the edge agent implements them on local files.
 */

/** A manifest as stored: its bytes, and what was learned from them at push time. */
export interface ManifestRecord {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  /**
   * The manifest bytes exactly as pushed, when the metadata store holds them. Large
   * manifests are kept in the blob store under their digest instead.
   */
  content?: Uint8Array;
  artifactType?: string;
  subjectDigest?: string;
  annotations?: Record<string, string>;
  /** Blobs and child manifests this manifest needs; kept for garbage collection. */
  blobDigests: string[];
  manifestDigests: string[];
  createdAt: string;
}

export type ManifestSummary = Omit<ManifestRecord, "content">;

export interface BlobLink {
  digest: string;
  size: number;
  /**
   * When a push last relied on this link (set by the store on every put). The garbage
   * collector leaves alone a blob whose link was used recently: a push may be about to
   * reference it.
   */
  usedAt?: string;
}

export interface UploadSession {
  repository: string;
  id: string;
  /** Bytes received so far. */
  offset: number;
  /** Storage blocks staged so far, in order; committing them makes the upload's bytes. */
  blockIds: string[];
  startedAt: string;
  /** Opaque concurrency token: an update with a stale one fails with `ConcurrentUpdateError`. */
  version?: string;
}

export interface Page {
  limit: number;
  after: string | undefined;
}

export class ConcurrentUpdateError extends Error {}

export interface MetadataStore {
  /** Registers the repository for the catalog; idempotent. */
  ensureRepository(repository: string): Promise<void>;
  repositoryExists(repository: string): Promise<boolean>;
  /** Repository names sorted ascending, after `page.after`, at most `page.limit`. */
  listRepositories(page: Page): Promise<string[]>;

  /** The manifest a tag points at, in one lookup: a pull by tag is the hot path. */
  getTaggedManifest(repository: string, tag: string): Promise<ManifestRecord | undefined>;
  /** Points the tag at this manifest (which must already be stored). */
  putTag(repository: string, tag: string, manifest: ManifestRecord): Promise<void>;
  /** Returns false when the tag did not exist. */
  deleteTag(repository: string, tag: string): Promise<boolean>;
  listTags(repository: string, page: Page): Promise<string[]>;

  getManifest(repository: string, digest: string): Promise<ManifestRecord | undefined>;
  putManifest(manifest: ManifestRecord): Promise<void>;
  /** Deletes the manifest and every tag that points at it; false when it did not exist. */
  deleteManifest(repository: string, digest: string): Promise<boolean>;
  /** Manifests in the repository whose subject is `subjectDigest`. */
  listReferrers(repository: string, subjectDigest: string): Promise<ManifestSummary[]>;

  getBlobLink(repository: string, digest: string): Promise<BlobLink | undefined>;
  putBlobLink(repository: string, link: BlobLink): Promise<void>;
  /**
   * Marks an existing link as used now; false when the link is gone (the garbage collector
   * removed it). Never creates one: a push must not revive a link to deleted content.
   */
  refreshBlobLink(repository: string, digest: string): Promise<boolean>;
  deleteBlobLink(repository: string, digest: string): Promise<boolean>;

  createUpload(session: UploadSession): Promise<UploadSession>;
  getUpload(repository: string, id: string): Promise<UploadSession | undefined>;
  /** Replaces the session if nobody else changed it since it was read. */
  updateUpload(session: UploadSession): Promise<UploadSession>;
  deleteUpload(repository: string, id: string): Promise<void>;
  /** Sessions started before `before`, across repositories (for the cleanup timer). */
  listStaleUploads(before: Date, limit: number): Promise<UploadSession[]>;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

/** Where staged bytes go: an upload session's scratch space, or straight to the content address. */
export type StagingTarget = { kind: "upload"; id: string } | { kind: "content"; digest: string };

export interface BlobStore {
  /** Size of the stored content, or undefined when absent. */
  stat(digest: string): Promise<number | undefined>;
  read(digest: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array>>;
  /** A short-lived URL a client may GET the content from directly; undefined if the store cannot issue one. */
  readUrl(digest: string): Promise<string | undefined>;
  /** Writes small content in one call (manifests too large for the metadata store). */
  writeContent(digest: string, content: Uint8Array): Promise<void>;
  delete(digest: string): Promise<void>;

  /**
   * Stages the body as blocks under ids no other writer uses, so concurrent or failed
   * writers never overwrite each other's bytes. Nothing is visible until `commit`.
   */
  stage(target: StagingTarget, body: AsyncIterable<Uint8Array>): Promise<{ bytes: number; blockIds: string[] }>;
  /** Makes exactly these staged blocks, in this order, the target's content. */
  commit(target: StagingTarget, blockIds: string[]): Promise<void>;
  /** Reads a committed upload back (to hash it when its running hash was lost). */
  readUpload(uploadId: string): Promise<AsyncIterable<Uint8Array>>;
  /** Moves a committed, verified upload to its content address and drops the upload. */
  promoteUpload(uploadId: string, digest: string): Promise<void>;
  /** Drops an upload's staged and committed bytes. */
  discardUpload(uploadId: string): Promise<void>;
}
