/**
 * The connected registry's tag and platform filters at the edge (docs/edge-agent.md
 * "Filters"): which tags of a repository this edge keeps, which platforms of an index it
 * fetches (the index itself is stored whole, with its original bytes and digest: a sparse
 * index), and what a client asking for something filtered out is told. The rules are
 * shared/domain/connected-registry/repository-filters.ts; this reads them from the
 * configuration the parent sent, compiled once per configuration version.
 */
import { compileFilter, platformText, type CompiledFilter, type Platform, type RepositoryFilter } from "../../../shared/domain/connected-registry/index.js";
import { parseDigest } from "../../../shared/domain/digest.js";
import type { EdgeConfiguration } from "../../../shared/sync/configuration.js";
import type { BlobStore } from "../../../shared/store/interfaces.js";
import type { ListingMetadataStore } from "./local-only.js";

/** Manifests of a repository looked at to explain a miss: a miss is rare and this bounds its cost. */
const MAX_EXPLAIN_SCAN = 2000;

export class EdgeFilters {
  private compiled = new Map<string, CompiledFilter>();
  private compiledFor: string | undefined;

  constructor(private readonly configuration: () => EdgeConfiguration | undefined) {}

  /** The compiled filter of `repository`, if it has one. */
  of(repository: string): CompiledFilter | undefined {
    const configuration = this.configuration();
    if (configuration?.version !== this.compiledFor) {
      this.compiled = new Map((configuration?.repositoryFilters ?? []).map((filter) => [filter.repository, compileFilter(filter)]));
      this.compiledFor = configuration?.version;
    }
    return this.compiled.get(repository);
  }

  keepsTag(repository: string, tag: string): boolean {
    return this.of(repository)?.keepsTag(tag) ?? true;
  }

  keepsPlatform(repository: string, platform: Platform | undefined): boolean {
    return this.of(repository)?.keepsPlatform(platform) ?? true;
  }

  /**
   * Why a manifest asked of this edge is not here, when a filter is the reason: a tag the
   * filter leaves out, or a platform manifest of a kept index whose platform it leaves out.
   */
  async explainMissing(metadata: ListingMetadataStore, blobs: BlobStore, repository: string, reference: string): Promise<string | undefined> {
    const filter = this.of(repository);
    if (!filter) return undefined;
    if (!parseDigest(reference)) {
      return filter.keepsTag(reference) ? undefined : `tag ${reference} of repository ${repository} is filtered out at this edge (its tag filter: ${describeTags(filter.filter)}); pull it from the parent registry`;
    }
    if (!filter.hasPlatforms) return undefined;
    for (const digest of (await metadata.listManifests(repository)).slice(0, MAX_EXPLAIN_SCAN)) {
      const index = await metadata.getManifest(repository, digest);
      if (!index?.manifestDigests.includes(reference)) continue;
      const content = index.content ?? (await readAll(blobs, index.digest));
      const descriptor = (JSON.parse(Buffer.from(content).toString("utf8")) as { manifests?: Array<{ digest: string; platform?: Platform }> }).manifests?.find(
        (child) => child.digest === reference,
      );
      return platformMessage(filter, repository, index.digest, reference, descriptor?.platform);
    }
    return undefined;
  }

  /** Why a platform manifest of an index is filtered out here (undefined: the filter keeps it); the index need not be stored. */
  explainChild(repository: string, index: string, child: { digest: string; platform?: Platform }): string | undefined {
    const filter = this.of(repository);
    return !filter || filter.keepsPlatform(child.platform) ? undefined : platformMessage(filter, repository, index, child.digest, child.platform);
  }

  /**
   * What pull-through does with a miss (docs/edge-agent.md "Pull-through"): "platform" for a
   * platform manifest of a kept index that the filter leaves out (never fetched), "tag" for a
   * tag the filter leaves out (served from the parent, not kept as a tag), undefined otherwise.
   */
  async filteredMiss(metadata: ListingMetadataStore, blobs: BlobStore, repository: string, reference: string): Promise<"platform" | "tag" | undefined> {
    if (!parseDigest(reference)) return this.keepsTag(repository, reference) ? undefined : "tag";
    return (await this.explainMissing(metadata, blobs, repository, reference)) ? "platform" : undefined;
  }

  /** Repositories whose filter differs between two configurations: each is walked again, so it becomes what the new filter keeps. */
  static changed(before: EdgeConfiguration | undefined, after: EdgeConfiguration): string[] {
    const key = (filters: RepositoryFilter[] | undefined): Map<string, string> => new Map((filters ?? []).map((filter) => [filter.repository, JSON.stringify(filter)]));
    const old = key(before?.repositoryFilters);
    const now = key(after.repositoryFilters);
    const repositories = new Set([...old.keys(), ...now.keys()]);
    return [...repositories].filter((repository) => old.get(repository) !== now.get(repository) && after.repositories.includes(repository));
  }
}

function platformMessage(filter: CompiledFilter, repository: string, index: string, reference: string, platform: Platform | undefined): string {
  return `manifest ${reference} (${platformText(platform)}) of index ${index} in repository ${repository} is filtered out at this edge, which keeps only ${(filter.filter.platforms ?? []).join(", ")}; pull that platform from the parent registry`;
}

function describeTags(filter: RepositoryFilter): string {
  const parts = [
    ...(filter.tags?.include?.length ? [`include ${filter.tags.include.join(" | ")}`] : []),
    ...(filter.tags?.exclude?.length ? [`exclude ${filter.tags.exclude.join(" | ")}`] : []),
    ...(filter.tags?.semver ? [`semver ${filter.tags.semver}`] : []),
  ];
  return parts.join(", ");
}

async function readAll(blobs: BlobStore, digest: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await blobs.read(digest)) chunks.push(chunk as Uint8Array);
  return Buffer.concat(chunks);
}
