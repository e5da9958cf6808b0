/**
 * Repositories, tags and manifests in the management API: what the console and scripts
 * browse, and deleting a tag. Reads go through the registry's stores; the deletion goes
 * through the registry engine's own delete path, so it logs the same change for edges.
 */
import type { Principal } from "../auth/authorizer.js";
import { blobTotal, readManifestContents, type ManifestContents } from "../domain/manifest-contents.js";
import type { Descriptor } from "../domain/manifest.js";
import { MAX_PAGE_SIZE, parsePageRequest } from "../domain/pagination.js";
import { RegistryError } from "../domain/registry-errors.js";
import { readBody } from "../http/body.js";
import type { RegistryContext } from "../registry/context.js";
import { deleteManifest } from "../registry/manifests.js";
import type { ManifestRecord, Page } from "../store/interfaces.js";
import type { RepositoryStatistics, TagDetail } from "../store/repository-statistics.js";
import { badRequest, notFound } from "./errors.js";

/** A page without `n` holds this many entries (ACR's default too). */
export const DEFAULT_PAGE_SIZE = 100;

export interface Paged<T> {
  value: T[];
  /** The next page's path and query, when more entries follow. */
  nextLink?: string;
}

type DescriptorView = Pick<Descriptor, "digest" | "mediaType" | "size">;

export interface PlatformView extends DescriptorView {
  platform: Record<string, unknown> | null;
  /** The child image's config and layers; null when the child is not stored here. */
  totalSize: number | null;
}

export interface ReferrerView extends DescriptorView {
  artifactType: string | null;
  annotations: Record<string, string>;
  createdAt: string;
}

/** What GET .../_manifests/<digest> answers (docs/admin-api.md, "Manifest view"). */
export interface ManifestView extends DescriptorView {
  repository: string;
  artifactType: string | null;
  /** The digest of the manifest this one refers to, for a referrer. */
  subject: string | null;
  annotations: Record<string, string>;
  createdAt: string;
  /** Config plus layers, each blob once; null when the manifest's contents cannot be read as an image or index. */
  totalSize: number | null;
  config?: DescriptorView;
  layers?: DescriptorView[];
  platforms?: PlatformView[];
  referrers: ReferrerView[];
}

/** The management API acts with full rights: the admin credential was checked before any route. */
const ADMIN_PRINCIPAL: Principal = { mayRead: () => true, optionalGranted: [] };

export class RepositoryService {
  constructor(
    private readonly registry: RegistryContext,
    private readonly statistics: RepositoryStatistics,
  ) {}

  async list(query: URLSearchParams): Promise<Paged<{ name: string }>> {
    const page = readPage(query);
    const names = await this.registry.metadata.listRepositories({ ...page, limit: page.limit + 1 });
    return paged(names.map((name) => ({ name })), page, (entry) => entry.name, "/management/repositories");
  }

  async show(repository: string): Promise<{ name: string; tagCount: number; manifestCount: number; lastUpdate: string | null }> {
    await this.requireRepository(repository);
    const summary = await this.statistics.summarize(repository);
    return { name: repository, tagCount: summary.tagCount, manifestCount: summary.manifestCount, lastUpdate: summary.lastUpdate ?? null };
  }

  async listTags(repository: string, query: URLSearchParams): Promise<Paged<TagDetail>> {
    const page = readPage(query);
    await this.requireRepository(repository);
    const tags = await this.statistics.listTagDetails(repository, { ...page, limit: page.limit + 1 });
    return paged(tags, page, (tag) => tag.tag, `/management/repositories/${repository}/_tags`);
  }

  async showManifest(repository: string, digest: string): Promise<ManifestView> {
    await this.requireRepository(repository);
    const manifest = await this.registry.metadata.getManifest(repository, digest);
    if (!manifest) throw notFound(`manifest ${digest} is not in repository ${repository}`);
    const [contents, referrers] = await Promise.all([this.contentsOf(manifest), this.registry.metadata.listReferrers(repository, digest)]);
    const parts: Pick<ManifestView, "totalSize" | "config" | "layers" | "platforms"> =
      contents.kind === "image"
        ? { totalSize: blobTotal([contents.config, ...contents.layers]), config: descriptorView(contents.config), layers: contents.layers.map(descriptorView) }
        : contents.kind === "index"
          ? await this.platformsOf(repository, contents.manifests)
          : { totalSize: null };
    return {
      repository,
      digest: manifest.digest,
      mediaType: manifest.mediaType,
      size: manifest.size,
      artifactType: manifest.artifactType ?? null,
      subject: manifest.subjectDigest ?? null,
      annotations: manifest.annotations ?? {},
      createdAt: manifest.createdAt,
      ...parts,
      referrers: referrers.map((referrer) => ({
        digest: referrer.digest,
        mediaType: referrer.mediaType,
        size: referrer.size,
        artifactType: referrer.artifactType ?? null,
        annotations: referrer.annotations ?? {},
        createdAt: referrer.createdAt,
      })),
    };
  }

  /** Deletes the tag exactly as DELETE /v2/<name>/manifests/<tag> does, change-log entry included. */
  async deleteTag(repository: string, tag: string): Promise<void> {
    await this.requireRepository(repository);
    try {
      await deleteManifest(this.registry, repository, tag, ADMIN_PRINCIPAL);
    } catch (error) {
      if (error instanceof RegistryError && error.code === "MANIFEST_UNKNOWN") throw notFound(`tag ${tag} is not in repository ${repository}`);
      throw error;
    }
  }

  private async requireRepository(repository: string): Promise<void> {
    if (!(await this.registry.metadata.repositoryExists(repository))) throw notFound(`repository ${repository} is not known to this registry`);
  }

  private async contentsOf(manifest: ManifestRecord): Promise<ManifestContents> {
    const bytes = manifest.content ?? (await readBody(await this.registry.blobs.read(manifest.digest), manifest.size));
    return readManifestContents(bytes);
  }

  /** An index's children with their platforms; the index's total counts each blob of its images once. */
  private async platformsOf(repository: string, children: Descriptor[]): Promise<{ totalSize: number; platforms: PlatformView[] }> {
    const blobs: DescriptorView[] = [];
    const platforms = await Promise.all(
      children.map(async (child): Promise<PlatformView> => {
        const record = await this.registry.metadata.getManifest(repository, child.digest);
        const contents = record ? await this.contentsOf(record) : undefined;
        const images = contents?.kind === "image" ? [contents.config, ...contents.layers] : undefined;
        if (images) blobs.push(...images);
        return { ...descriptorView(child), platform: child.platform ?? null, totalSize: images ? blobTotal(images) : null };
      }),
    );
    return { totalSize: blobTotal(blobs), platforms };
  }
}

function descriptorView(descriptor: Descriptor): DescriptorView {
  return { digest: descriptor.digest, mediaType: descriptor.mediaType, size: descriptor.size };
}

/** `n` and `last` as on /v2/ listings; a missing `n` means a page of DEFAULT_PAGE_SIZE, not everything. */
function readPage(query: URLSearchParams): Page {
  const request = parsePageRequest(query);
  if (!request.ok) throw badRequest(`invalid query: ${request.message} (n is the page size, 1-${MAX_PAGE_SIZE})`);
  const limit = request.page.limit ?? DEFAULT_PAGE_SIZE;
  if (limit === 0) throw badRequest(`invalid query: n must be 1-${MAX_PAGE_SIZE}, got 0`);
  return { limit, after: request.page.after };
}

/** Cuts the one extra entry the store was asked for; its presence means another page follows. */
function paged<T>(entries: T[], page: Page, key: (entry: T) => string, path: string): Paged<T> {
  if (entries.length <= page.limit) return { value: entries };
  const value = entries.slice(0, page.limit);
  return { value, nextLink: `${path}?n=${page.limit}&last=${encodeURIComponent(key(value[value.length - 1]!))}` };
}
