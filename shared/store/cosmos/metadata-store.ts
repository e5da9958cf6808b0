/**
 * MetadataStore on Cosmos DB. One container, partitioned by repository, so everything
 * a pull touches is a point read in one partition:
 *   tag:<tag>            -> the digest it points at, with a copy of that manifest's
 *                           document, so a pull by tag is ONE point read. A digest's
 *                           content never changes, so the copy cannot go stale; deleting
 *                           a manifest deletes its tags.
 *   manifest:<digest>    -> media type, size, bytes (inline when small), subject, ...
 *   blob:<digest>        -> the repository's link to a blob, with its size
 *   upload:<id>          -> an upload session's progress
 *   repository           -> marker that the repository exists
 * The catalog lives in its own partition "_catalog" (no repository name can start with
 * "_"), so listing repositories is a single-partition query too.
 *
 * Every query filters on the partition key in WHERE: the local Cosmos server ignores
 * the partitionKey request option.
 */
import type { Container, ItemDefinition } from "@azure/cosmos";
import {
  ConcurrentUpdateError,
  type BlobLink,
  type ManifestRecord,
  type ManifestSummary,
  type MetadataStore,
  type Page,
  type UploadSession,
} from "../interfaces.js";
import { cosmosStatus } from "./status.js";

const CATALOG_PARTITION = "_catalog";

/** A manifest's fields as stored: the bytes base64-encoded when inline. */
type ManifestFields = Omit<ManifestRecord, "content"> & { content?: string };

interface ManifestDocument extends ItemDefinition, ManifestFields {
  id: string;
  type: "manifest";
}

interface TagDocument extends ItemDefinition {
  id: string;
  repository: string;
  type: "tag";
  tag: string;
  digest: string;
  updatedAt: string;
  manifest: ManifestFields;
}

interface BlobLinkDocument extends ItemDefinition, BlobLink {
  id: string;
  repository: string;
  type: "blob";
}

interface UploadDocument extends ItemDefinition, Omit<UploadSession, "version"> {
  id: string;
  type: "upload";
  uploadId: string;
}

interface CatalogDocument extends ItemDefinition {
  id: string;
  repository: typeof CATALOG_PARTITION;
  type: "catalog";
  name: string;
}

/** Cosmos ids may not contain "/"; repository names never contain "!". */
const catalogId = (name: string): string => name.replaceAll("/", "!");

export class CosmosMetadataStore implements MetadataStore {
  /** Repositories this process already registered; saves two writes on every push. */
  private readonly knownRepositories = new Set<string>();

  constructor(private readonly container: Container) {}

  async ensureRepository(repository: string): Promise<void> {
    if (this.knownRepositories.has(repository)) return;
    await Promise.all([
      this.createIfAbsent({ id: "repository", repository, type: "repository", createdAt: new Date().toISOString() }),
      this.createIfAbsent({ id: catalogId(repository), repository: CATALOG_PARTITION, type: "catalog", name: repository }),
    ]);
    this.knownRepositories.add(repository);
  }

  async repositoryExists(repository: string): Promise<boolean> {
    if (this.knownRepositories.has(repository)) return true;
    const { resource } = await this.container.item("repository", repository).read();
    return resource !== undefined;
  }

  listRepositories(page: Page): Promise<string[]> {
    return this.listSorted(CATALOG_PARTITION, "catalog", "name", page);
  }

  async getTaggedManifest(repository: string, tag: string): Promise<ManifestRecord | undefined> {
    const { resource } = await this.container.item(`tag:${tag}`, repository).read<TagDocument>();
    return resource ? toManifestRecord(resource.manifest) : undefined;
  }

  async putTag(repository: string, tag: string, manifest: ManifestRecord): Promise<void> {
    const document: TagDocument = {
      id: `tag:${tag}`,
      repository,
      type: "tag",
      tag,
      digest: manifest.digest,
      updatedAt: new Date().toISOString(),
      manifest: toManifestFields(manifest),
    };
    await this.container.items.upsert(document);
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    return this.deleteIfPresent(`tag:${tag}`, repository);
  }

  listTags(repository: string, page: Page): Promise<string[]> {
    return this.listSorted(repository, "tag", "tag", page);
  }

  async getManifest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    const { resource } = await this.container.item(`manifest:${digest}`, repository).read<ManifestDocument>();
    if (!resource) return undefined;
    return toManifestRecord(resource);
  }

  async putManifest(manifest: ManifestRecord): Promise<void> {
    const document: ManifestDocument = { ...toManifestFields(manifest), id: `manifest:${manifest.digest}`, type: "manifest" };
    await this.container.items.upsert(document);
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    // Tags go first: a crash in between leaves an untagged manifest, never a dangling tag.
    const { resources: tags } = await this.container.items
      .query<{ id: string }>({
        query: `SELECT c.id FROM c WHERE c.repository = @repository AND c.type = "tag" AND c.digest = @digest`,
        parameters: [
          { name: "@repository", value: repository },
          { name: "@digest", value: digest },
        ],
      })
      .fetchAll();
    await Promise.all(tags.map((t) => this.deleteIfPresent(t.id, repository)));
    return this.deleteIfPresent(`manifest:${digest}`, repository);
  }

  async listReferrers(repository: string, subjectDigest: string): Promise<ManifestSummary[]> {
    const { resources } = await this.container.items
      .query<ManifestDocument>({
        query: `SELECT * FROM c WHERE c.repository = @repository AND c.type = "manifest" AND c.subjectDigest = @subject`,
        parameters: [
          { name: "@repository", value: repository },
          { name: "@subject", value: subjectDigest },
        ],
      })
      .fetchAll();
    return resources.map((document) => {
      const { content: _content, ...summary } = toManifestRecord(document);
      return summary;
    });
  }

  async getBlobLink(repository: string, digest: string): Promise<BlobLink | undefined> {
    const { resource } = await this.container.item(`blob:${digest}`, repository).read<BlobLinkDocument>();
    return resource ? { digest: resource.digest, size: resource.size, ...(resource.usedAt ? { usedAt: resource.usedAt } : {}) } : undefined;
  }

  async putBlobLink(repository: string, link: BlobLink): Promise<void> {
    const document: BlobLinkDocument = { id: `blob:${link.digest}`, repository, type: "blob", digest: link.digest, size: link.size, usedAt: new Date().toISOString() };
    await this.container.items.upsert(document);
  }

  async refreshBlobLink(repository: string, digest: string): Promise<boolean> {
    try {
      // A patch fails on a missing document, where an upsert would create it.
      await this.container.item(`blob:${digest}`, repository).patch([{ op: "set", path: "/usedAt", value: new Date().toISOString() }]);
      return true;
    } catch (error) {
      if (cosmosStatus(error) === 404) return false;
      throw error;
    }
  }

  async deleteBlobLink(repository: string, digest: string): Promise<boolean> {
    return this.deleteIfPresent(`blob:${digest}`, repository);
  }

  async createUpload(session: UploadSession): Promise<UploadSession> {
    const { resource } = await this.container.items.create<UploadDocument>(toUploadDocument(session));
    if (!resource) throw new Error("Cosmos DB returned no document for a created upload session");
    return toUploadSession(resource);
  }

  async getUpload(repository: string, id: string): Promise<UploadSession | undefined> {
    const { resource } = await this.container.item(`upload:${id}`, repository).read<UploadDocument>();
    return resource ? toUploadSession(resource) : undefined;
  }

  async updateUpload(session: UploadSession): Promise<UploadSession> {
    try {
      const { resource } = await this.container
        .item(`upload:${session.id}`, session.repository)
        .replace<UploadDocument>(toUploadDocument(session), {
          ...(session.version ? { accessCondition: { type: "IfMatch", condition: session.version } } : {}),
        });
      if (!resource) throw new Error("Cosmos DB returned no document for a replaced upload session");
      return toUploadSession(resource);
    } catch (error) {
      if (cosmosStatus(error) === 412 || cosmosStatus(error) === 404) {
        throw new ConcurrentUpdateError(`upload ${session.id} changed or ended while this request ran`);
      }
      throw error;
    }
  }

  async deleteUpload(repository: string, id: string): Promise<void> {
    await this.deleteIfPresent(`upload:${id}`, repository);
  }

  async listStaleUploads(before: Date, limit: number): Promise<UploadSession[]> {
    // Cross-partition, but only the cleanup timer runs it, never a client request.
    const { resources } = await this.container.items
      .query<UploadDocument>({
        query: `SELECT TOP ${limit} * FROM c WHERE c.type = "upload" AND c.startedAt < @before`,
        parameters: [{ name: "@before", value: before.toISOString() }],
      })
      .fetchAll();
    return resources.map(toUploadSession);
  }

  /** One page of a field of one partition's documents of a type, sorted, after `page.after`. */
  private async listSorted(partition: string, type: "catalog" | "tag", field: "name" | "tag", page: Page): Promise<string[]> {
    const { resources } = await this.container.items
      .query<Record<string, string>>({
        query: `SELECT TOP ${Math.floor(page.limit)} c.${field} FROM c WHERE c.repository = @partition AND c.type = @type AND c.${field} > @after ORDER BY c.${field}`,
        parameters: [
          { name: "@partition", value: partition },
          { name: "@type", value: type },
          { name: "@after", value: page.after ?? "" },
        ],
      })
      .fetchAll();
    return resources.map((r) => r[field]!);
  }

  private async createIfAbsent(document: ItemDefinition): Promise<void> {
    try {
      await this.container.items.create(document);
    } catch (error) {
      if (cosmosStatus(error) !== 409) throw error;
    }
  }

  private async deleteIfPresent(id: string, partition: string): Promise<boolean> {
    try {
      await this.container.item(id, partition).delete();
      return true;
    } catch (error) {
      if (cosmosStatus(error) === 404) return false;
      throw error;
    }
  }
}

function toManifestFields(manifest: ManifestRecord): ManifestFields {
  const { content, ...fields } = manifest;
  return content ? { ...fields, content: Buffer.from(content).toString("base64") } : fields;
}

function toManifestRecord(document: ManifestFields): ManifestRecord {
  const record: ManifestRecord = {
    repository: document.repository,
    digest: document.digest,
    mediaType: document.mediaType,
    size: document.size,
    blobDigests: document.blobDigests,
    manifestDigests: document.manifestDigests,
    createdAt: document.createdAt,
  };
  if (document.content !== undefined) record.content = Buffer.from(document.content, "base64");
  if (document.artifactType !== undefined) record.artifactType = document.artifactType;
  if (document.subjectDigest !== undefined) record.subjectDigest = document.subjectDigest;
  if (document.annotations !== undefined) record.annotations = document.annotations;
  return record;
}

function toUploadDocument(session: UploadSession): UploadDocument {
  const { version: _version, ...fields } = session;
  return { ...fields, id: `upload:${session.id}`, type: "upload", uploadId: session.id };
}

function toUploadSession(document: UploadDocument): UploadSession {
  return {
    repository: document.repository,
    id: document.uploadId,
    offset: document.offset,
    blockIds: document.blockIds,
    startedAt: document.startedAt,
    ...(document._etag ? { version: document._etag } : {}),
  };
}
