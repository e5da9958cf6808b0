/**
 * MetadataStore on local files, for the edge agent: one JSON file per record, each
 * written atomically (temp file, fsync, rename), under the root folder:
 *   catalog/<encodeURIComponent(name)>                 the repository exists
 *   repositories/<name>/_manifests/<alg>/<hex>.json     a manifest (bytes base64-encoded)
 *   repositories/<name>/_tags/<tag>.json                the manifest the tag points at, whole,
 *                                                       so a pull by tag is one file read
 *   repositories/<name>/_layers/<alg>/<hex>.json        the repository's link to a blob
 *   repositories/<name>/_uploads/<id>.json              an upload session
 *   repositories/<name>/_referrers/<subject hex>/<hex>  marker: this manifest refers to that one
 * Repository names contain slashes, so a repository's folder may hold other repositories;
 * no OCI name component starts with "_", so the record folders never collide with them.
 * This store assumes one process: upload versions are checked under an in-process lock.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { parseDigest } from "../../../shared/domain/digest.js";
import { isValidRepositoryName, isValidTag } from "../../../shared/domain/names.js";
import {
  ConcurrentUpdateError,
  type BlobLink,
  type ManifestRecord,
  type ManifestSummary,
  type MetadataStore,
  type Page,
  type UploadSession,
} from "../../../shared/store/interfaces.js";
import { isNotFound, isTempName, readdirOrEmpty, readJsonFile, writeFileAtomic } from "./atomic-file.js";
import { firstIndexAfter } from "./sorted.js";
import { KeyedLock } from "./keyed-lock.js";

/** A manifest as stored in a file: the bytes base64-encoded. */
type ManifestFields = Omit<ManifestRecord, "content"> & { content?: string };

interface TagFile {
  tag: string;
  digest: string;
  updatedAt: string;
  manifest: ManifestFields;
}

interface UploadFile extends Omit<UploadSession, "version"> {
  /** Incremented by every update; handed out as the session's opaque version. */
  version: number;
}

const uploadIdPattern = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
/** Referrer markers are named by hex only; the length tells the algorithm. */
const algorithmOfHex: Record<number, string> = { 64: "sha256", 128: "sha512" };

export class FsMetadataStore implements MetadataStore {
  private readonly uploadLocks = new KeyedLock();
  /** Repositories already registered by this process; saves a write on every push. */
  private readonly knownRepositories = new Set<string>();

  /** Bumped by every tag write or removal in this process: the inventory (sync/inventory.ts) is recomputed only when it moved. */
  tagChanges = 0;

  constructor(private readonly root: string) {}

  async ensureRepository(repository: string): Promise<void> {
    if (this.knownRepositories.has(repository)) return;
    const marker = this.catalogPath(repository);
    if ((await readJsonFile<unknown>(marker)) === undefined) {
      await writeFileAtomic(marker, JSON.stringify({ name: repository, createdAt: new Date().toISOString() }));
    }
    this.knownRepositories.add(repository);
  }

  async repositoryExists(repository: string): Promise<boolean> {
    if (this.knownRepositories.has(repository)) return true;
    // The catalog marker, not the folder: "a/b" creates the folder of "a" too.
    return (await readJsonFile<unknown>(this.catalogPath(repository))) !== undefined;
  }

  async listRepositories(page: Page): Promise<string[]> {
    const names = (await listNames(join(this.root, "catalog"))).map((name) => decodeURIComponent(name));
    return pageOf(names, page);
  }

  async getTaggedManifest(repository: string, tag: string): Promise<ManifestRecord | undefined> {
    const file = await readJsonFile<TagFile>(this.tagPath(repository, tag));
    return file ? toManifestRecord(file.manifest) : undefined;
  }

  async putTag(repository: string, tag: string, manifest: ManifestRecord): Promise<void> {
    const file: TagFile = { tag, digest: manifest.digest, updatedAt: new Date().toISOString(), manifest: toManifestFields(manifest) };
    await writeFileAtomic(this.tagPath(repository, tag), JSON.stringify(file));
    this.tagChanges++;
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const removed = await removeFile(this.tagPath(repository, tag));
    this.tagChanges++;
    return removed;
  }

  async listTags(repository: string, page: Page): Promise<string[]> {
    const names = await listNames(join(this.repositoryDir(repository), "_tags"));
    return pageOf(
      names.filter((name) => name.endsWith(".json")).map((name) => name.slice(0, -".json".length)),
      page,
    );
  }

  async getManifest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    const fields = await readJsonFile<ManifestFields>(this.manifestPath(repository, digest));
    return fields ? toManifestRecord(fields) : undefined;
  }

  /** Every manifest digest stored in the repository (a full resync compares them with the parent's). */
  async listManifests(repository: string): Promise<string[]> {
    const root = join(this.repositoryDir(repository), "_manifests");
    const digests: string[] = [];
    for (const algorithm of await listNames(root)) {
      for (const file of await listNames(join(root, algorithm))) if (file.endsWith(".json")) digests.push(`${algorithm}:${file.slice(0, -".json".length)}`);
    }
    return digests;
  }

  async putManifest(manifest: ManifestRecord): Promise<void> {
    // The referrer marker first: a marker whose manifest is missing is skipped by
    // listReferrers, while a manifest without its marker would be invisible there.
    if (manifest.subjectDigest) await writeFileAtomic(this.referrerPath(manifest.repository, manifest.subjectDigest, manifest.digest), "");
    await writeFileAtomic(this.manifestPath(manifest.repository, manifest.digest), JSON.stringify(toManifestFields(manifest)));
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    const existing = await this.getManifest(repository, digest);
    // Tags go first: a crash in between leaves an untagged manifest, never a dangling tag.
    const tagsDir = join(this.repositoryDir(repository), "_tags");
    for (const name of await listNames(tagsDir)) {
      const file = await readJsonFile<TagFile>(join(tagsDir, name));
      if (file?.digest === digest) {
        await removeFile(join(tagsDir, name));
        this.tagChanges++;
      }
    }
    if (existing?.subjectDigest) await removeFile(this.referrerPath(repository, existing.subjectDigest, digest));
    return removeFile(this.manifestPath(repository, digest));
  }

  async listReferrers(repository: string, subjectDigest: string): Promise<ManifestSummary[]> {
    const directory = join(this.repositoryDir(repository), "_referrers", requireDigest(subjectDigest).hex);
    const summaries: ManifestSummary[] = [];
    for (const hex of await listNames(directory)) {
      const algorithm = algorithmOfHex[hex.length];
      if (!algorithm) continue;
      const manifest = await this.getManifest(repository, `${algorithm}:${hex}`);
      // Another algorithm's subject with the same hex would be a different subject.
      if (!manifest || manifest.subjectDigest !== subjectDigest) continue;
      const { content: _content, ...summary } = manifest;
      summaries.push(summary);
    }
    return summaries;
  }

  async getBlobLink(repository: string, digest: string): Promise<BlobLink | undefined> {
    const link = await readJsonFile<BlobLink>(this.layerPath(repository, digest));
    return link ? { digest: link.digest, size: link.size, ...(link.usedAt ? { usedAt: link.usedAt } : {}) } : undefined;
  }

  async putBlobLink(repository: string, link: BlobLink): Promise<void> {
    await writeFileAtomic(this.layerPath(repository, link.digest), JSON.stringify({ digest: link.digest, size: link.size, usedAt: new Date().toISOString() }));
  }

  async refreshBlobLink(repository: string, digest: string): Promise<boolean> {
    const link = await this.getBlobLink(repository, digest);
    if (!link) return false;
    await this.putBlobLink(repository, link);
    return true;
  }

  async deleteBlobLink(repository: string, digest: string): Promise<boolean> {
    return removeFile(this.layerPath(repository, digest));
  }

  async createUpload(session: UploadSession): Promise<UploadSession> {
    return this.uploadLocks.run(session.id, async () => {
      const path = this.uploadPath(session.repository, session.id);
      if ((await readJsonFile<UploadFile>(path)) !== undefined) throw new ConcurrentUpdateError(`upload ${session.id} already exists`);
      const file = toUploadFile(session, 1);
      await writeFileAtomic(path, JSON.stringify(file));
      return toUploadSession(file);
    });
  }

  async getUpload(repository: string, id: string): Promise<UploadSession | undefined> {
    const file = await readJsonFile<UploadFile>(this.uploadPath(repository, id));
    return file ? toUploadSession(file) : undefined;
  }

  async updateUpload(session: UploadSession): Promise<UploadSession> {
    // Under the lock, read-compare-write is atomic within this (the only) process.
    return this.uploadLocks.run(session.id, async () => {
      const path = this.uploadPath(session.repository, session.id);
      const current = await readJsonFile<UploadFile>(path);
      if (!current || (session.version !== undefined && session.version !== String(current.version))) {
        throw new ConcurrentUpdateError(`upload ${session.id} changed or ended while this request ran`);
      }
      const file = toUploadFile(session, current.version + 1);
      await writeFileAtomic(path, JSON.stringify(file));
      return toUploadSession(file);
    });
  }

  async deleteUpload(repository: string, id: string): Promise<void> {
    await this.uploadLocks.run(id, () => removeFile(this.uploadPath(repository, id)));
  }

  async listStaleUploads(before: Date, limit: number): Promise<UploadSession[]> {
    // Walks every repository folder (an upload may start before its repository is in the
    // catalog); only the cleanup timer calls this.
    const stale: UploadSession[] = [];
    const visit = async (directory: string): Promise<void> => {
      for (const name of await listNames(directory)) {
        if (stale.length >= limit) return;
        if (name === "_uploads") {
          for (const file of await listNames(join(directory, name))) {
            if (stale.length >= limit) return;
            const upload = await readJsonFile<UploadFile>(join(directory, name, file));
            if (upload && Date.parse(upload.startedAt) < before.getTime()) stale.push(toUploadSession(upload));
          }
        } else if (!name.startsWith("_")) {
          await visit(join(directory, name));
        }
      }
    };
    await visit(join(this.root, "repositories"));
    return stale;
  }

  // --- paths (every part is validated again: names, tags and digests become paths; the
  // grammar rules out "." and ".." components) ---

  private repositoryDir(repository: string): string {
    if (!isValidRepositoryName(repository)) throw new Error(`not a repository name: ${repository}`);
    return join(this.root, "repositories", ...repository.split("/"));
  }

  private catalogPath(repository: string): string {
    if (!isValidRepositoryName(repository)) throw new Error(`not a repository name: ${repository}`);
    return join(this.root, "catalog", encodeURIComponent(repository));
  }

  private tagPath(repository: string, tag: string): string {
    if (!isValidTag(tag)) throw new Error(`not a tag: ${tag}`);
    return join(this.repositoryDir(repository), "_tags", `${tag}.json`);
  }

  private manifestPath(repository: string, digest: string): string {
    const { algorithm, hex } = requireDigest(digest);
    return join(this.repositoryDir(repository), "_manifests", algorithm, `${hex}.json`);
  }

  private layerPath(repository: string, digest: string): string {
    const { algorithm, hex } = requireDigest(digest);
    return join(this.repositoryDir(repository), "_layers", algorithm, `${hex}.json`);
  }

  private referrerPath(repository: string, subjectDigest: string, digest: string): string {
    return join(this.repositoryDir(repository), "_referrers", requireDigest(subjectDigest).hex, requireDigest(digest).hex);
  }

  private uploadPath(repository: string, id: string): string {
    if (!uploadIdPattern.test(id)) throw new Error(`not an upload id: ${id}`);
    return join(this.repositoryDir(repository), "_uploads", `${id}.json`);
  }
}

function requireDigest(digest: string): { algorithm: string; hex: string } {
  const parsed = parseDigest(digest);
  if (!parsed) throw new Error(`not a digest: ${digest}`);
  return parsed;
}

/** Sorted ascending by plain string comparison (as the cloud's ORDER BY), after `after`, at most `limit`. */
function pageOf(names: string[], page: Page): string[] {
  const sorted = names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const after = page.after;
  const start = after === undefined ? 0 : firstIndexAfter(sorted, after);
  return sorted.slice(start, start + Math.max(0, Math.floor(page.limit)));
}


/** The entries of a folder, without temp files; none when the folder does not exist. */
async function listNames(directory: string): Promise<string[]> {
  return (await readdirOrEmpty(directory)).filter((name) => !isTempName(name));
}

async function removeFile(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

function toManifestFields(manifest: ManifestRecord): ManifestFields {
  const { content, ...fields } = manifest;
  return content ? { ...fields, content: Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString("base64") } : fields;
}

function toManifestRecord(fields: ManifestFields): ManifestRecord {
  const record: ManifestRecord = {
    repository: fields.repository,
    digest: fields.digest,
    mediaType: fields.mediaType,
    size: fields.size,
    blobDigests: fields.blobDigests,
    manifestDigests: fields.manifestDigests,
    createdAt: fields.createdAt,
  };
  if (fields.content !== undefined) {
    const bytes = Buffer.from(fields.content, "base64");
    // A plain Uint8Array, as was put in (a Buffer would compare unequal in deep-equality checks).
    record.content = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  if (fields.artifactType !== undefined) record.artifactType = fields.artifactType;
  if (fields.subjectDigest !== undefined) record.subjectDigest = fields.subjectDigest;
  if (fields.annotations !== undefined) record.annotations = fields.annotations;
  return record;
}

function toUploadFile(session: UploadSession, version: number): UploadFile {
  return {
    repository: session.repository,
    id: session.id,
    offset: session.offset,
    blockIds: session.blockIds,
    startedAt: session.startedAt,
    version,
  };
}

function toUploadSession(file: UploadFile): UploadSession {
  return {
    repository: file.repository,
    id: file.id,
    offset: file.offset,
    blockIds: file.blockIds,
    startedAt: file.startedAt,
    version: String(file.version),
  };
}
