/**
 * Copies one image from a source into this registry, keeping every byte (and so every
 * digest) as it is: the manifest, every platform manifest of an index, and every blob.
 * Blobs the store already has are skipped; each blob is verified against its digest before
 * it is committed; an interrupted download resumes with Range. Nothing in the target
 * repositories changes until every blob is in: then blob links, child manifests, the
 * manifest, and the tags are written through the engine's own `storeManifest`.
 * Referrers (manifests whose `subject` names the image or one of its platform manifests:
 * signatures, SBOMs, and their own referrers) come along unless the plan says not to, found
 * with the source's referrers API or, where it has none, the OCI tag schema (`sha256-<hex>`).
 */
import { createHash } from "node:crypto";
import { parseDigest } from "../domain/digest.js";
import { parseManifest } from "../domain/manifest.js";
import type { TargetTag } from "../domain/import-reference.js";
import type { RegistryContext } from "../registry/context.js";
import { storeManifest } from "../registry/manifests.js";
import { ImportError, isRetryableImportError } from "./errors.js";
import type { FetchedManifest } from "./remote-source.js";

/** Where an import reads from: another registry, or this one. */
export interface ImportSourceReader {
  /** For messages: "registry.example.com" or "this registry". */
  readonly name: string;
  manifest(repository: string, reference: string): Promise<FetchedManifest | undefined>;
  blob(repository: string, digest: string, offset: number): Promise<{ body: AsyncIterable<Uint8Array>; restarted: boolean }>;
  /** Digests of the manifests whose subject is `digest`; undefined when the source has no referrers API. */
  referrers(repository: string, digest: string): Promise<string[] | undefined>;
}

export interface CopyPlan {
  repository: string;
  reference: string;
  targetTags: TargetTag[];
  untaggedTargetRepositories: string[];
  force: boolean;
  /** Copy the image's referrers too (default true). */
  includeReferrers?: boolean;
}

export interface CopyProgressListener {
  resolved(digest: string, blobs: number, bytes: number, referrers: string[]): Promise<void>;
  bytes(count: number): void;
  blobDone(skipped: boolean): Promise<void>;
}

interface Tree {
  manifest: FetchedManifest;
  children: Tree[];
  /** Blob digest -> size, as the manifest's descriptors give them. */
  blobs: Map<string, number>;
}

const BLOB_CONCURRENCY = 4;
/** A signature of an SBOM of an attestation...: deeper than this is a loop or abuse, not a supply chain. */
const MAX_REFERRER_DEPTH = 8;
const MAX_REFERRERS = 1000;
const ATTEMPTS = 5;

export class ImportCopier {
  constructor(
    private readonly registry: RegistryContext,
    private readonly backoffMs: (attempt: number) => number = (attempt) => 250 * 4 ** attempt,
  ) {}

  async copy(source: ImportSourceReader, plan: CopyPlan, progress: CopyProgressListener): Promise<string> {
    const tree = await this.resolve(source, plan.repository, plan.reference, true);
    const referrers = plan.includeReferrers === false ? [] : await this.resolveReferrers(source, plan.repository, tree);
    const blobs = new Map<string, number>();
    for (const each of [tree, ...referrers]) collectBlobs(each, blobs);
    const referrerDigests = referrers.map((referrer) => referrer.manifest.digest);
    await progress.resolved(tree.manifest.digest, blobs.size, [...blobs.values()].reduce((sum, size) => sum + size, 0), referrerDigests);

    this.requireTagsFree(plan, await this.existingTags(plan));
    const queue = [...blobs.entries()];
    await Promise.all(
      Array.from({ length: Math.min(BLOB_CONCURRENCY, queue.length) }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const [digest, size] = next;
          const present = (await this.registry.blobs.stat(digest)) !== undefined;
          if (!present) await this.copyBlob(source, plan.repository, digest, size, progress);
          await progress.blobDone(present);
        }
      }),
    );

    // Every blob is in: now, and only now, the target repositories change.
    this.requireTagsFree(plan, await this.existingTags(plan));
    const repositories = new Set([...plan.targetTags.map((target) => target.repository), ...plan.untaggedTargetRepositories]);
    for (const repository of repositories) {
      for (const digest of blobs.keys()) {
        const size = await this.registry.blobs.stat(digest);
        if (size === undefined) throw new Error(`blob ${digest} vanished from the store during the import`);
        await this.registry.metadata.putBlobLink(repository, { digest, size });
      }
      await this.writeChildren(repository, tree);
      const tags = plan.targetTags.filter((target) => target.repository === repository);
      for (const target of tags) await this.write(repository, tree.manifest, { tag: target.tag });
      if (tags.length === 0) await this.write(repository, tree.manifest, { digest: tree.manifest.digest });
      // After their subjects (found in that order), untagged, as a client would push them.
      for (const referrer of referrers) {
        if (await this.registry.metadata.getManifest(repository, referrer.manifest.digest)) continue;
        await this.writeChildren(repository, referrer);
        await this.write(repository, referrer.manifest, { digest: referrer.manifest.digest });
      }
    }
    return tree.manifest.digest;
  }

  /** The referrers of every manifest of `tree`, then theirs, breadth first (each after its subject). */
  private async resolveReferrers(source: ImportSourceReader, repository: string, tree: Tree): Promise<Tree[]> {
    const found: Tree[] = [];
    const seen = new Set<string>();
    let subjects = manifestDigestsOf(tree);
    for (const digest of subjects) seen.add(digest);
    for (let depth = 0; subjects.length > 0 && depth <= MAX_REFERRER_DEPTH; depth++) {
      const next: string[] = [];
      for (const subject of subjects) {
        for (const digest of await this.withRetries(() => this.referrersOf(source, repository, subject))) {
          if (seen.has(digest) || found.length >= MAX_REFERRERS) continue;
          seen.add(digest);
          const referrer = await this.resolve(source, repository, digest, false, "a referrer of the image");
          found.push(referrer);
          for (const named of manifestDigestsOf(referrer)) {
            seen.add(named);
            next.push(named);
          }
        }
      }
      subjects = next;
    }
    return found;
  }

  /** The source's referrers API, else the tag schema: an index tagged `<alg>-<hex>` listing them (OCI distribution 1.1). */
  private async referrersOf(source: ImportSourceReader, repository: string, subject: string): Promise<string[]> {
    const listed = await source.referrers(repository, subject);
    if (listed) return listed;
    const fallback = await source.manifest(repository, subject.replace(":", "-"));
    if (!fallback) return [];
    let index: { manifests?: Array<{ digest?: unknown }> };
    try {
      index = JSON.parse(fallback.content.toString("utf8")) as typeof index;
    } catch {
      return []; // a tag that happens to look like the schema's but holds no index
    }
    return (index.manifests ?? []).map((descriptor) => descriptor.digest).filter((digest): digest is string => typeof digest === "string" && parseDigest(digest) !== undefined);
  }

  private async resolve(source: ImportSourceReader, repository: string, reference: string, root: boolean, role = "a platform manifest of the index"): Promise<Tree> {
    const manifest = await this.withRetries(() => source.manifest(repository, reference));
    if (!manifest) {
      throw new ImportError(
        "SourceNotFound",
        root ? `${repository}${reference.includes(":") ? "@" : ":"}${reference} was not found in ${source.name}` : `${repository}@${reference}, ${role}, was not found in ${source.name}`,
      );
    }
    let parsed;
    try {
      parsed = parseManifest(manifest.content, manifest.mediaType);
    } catch (error) {
      throw new ImportError("SourceError", `the source's manifest ${repository}:${reference} is not one this registry stores: ${(error as Error).message}`);
    }
    const children = await Promise.all(parsed.manifestDigests.map((digest) => this.resolve(source, repository, digest, false)));
    return { manifest: { ...manifest, mediaType: parsed.mediaType }, children, blobs: descriptorSizes(manifest.content, parsed.blobDigests) };
  }

  private async copyBlob(source: ImportSourceReader, repository: string, digest: string, size: number, progress: CopyProgressListener): Promise<void> {
    const algorithm = parseDigest(digest)?.algorithm ?? "sha256";
    let hash = createHash(algorithm);
    let offset = 0;
    let blockIds: string[] = [];
    for (let attempt = 0; ; attempt++) {
      let interruption: unknown;
      try {
        const { body, restarted } = await source.blob(repository, digest, offset);
        if (restarted) {
          // The source ignored Range: what came before is thrown away, and so is its count.
          progress.bytes(-offset);
          hash = createHash(algorithm);
          offset = 0;
          blockIds = [];
        }
        const staged = await this.registry.blobs.stage(
          { kind: "content", digest },
          untilInterrupted(body, (chunk) => {
            hash.update(chunk);
            progress.bytes(chunk.byteLength);
          }, (error) => {
            interruption = error;
          }),
        );
        blockIds.push(...staged.blockIds);
        offset += staged.bytes;
        if (interruption === undefined) break;
        throw interruption;
      } catch (error) {
        const transient = interruption !== undefined || isRetryableImportError(error);
        if (!transient) throw error;
        if (attempt + 1 >= ATTEMPTS) {
          throw error instanceof ImportError ? error : new ImportError("SourceUnreachable", `${source.name} kept breaking off the download of ${digest} (${ATTEMPTS} attempts): ${(error as Error).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, this.backoffMs(attempt)));
      }
    }
    const actual = `${algorithm}:${hash.digest("hex")}`;
    if (actual !== digest) throw new ImportError("DigestMismatch", `blob ${digest} of ${repository} from ${source.name} hashes to ${actual}; nothing was imported`);
    if (size > 0 && offset !== size) throw new ImportError("DigestMismatch", `blob ${digest} of ${repository} from ${source.name} has ${offset} bytes, its manifest says ${size}`);
    await this.registry.blobs.commit({ kind: "content", digest }, blockIds);
  }

  /** Retries what failed for a reason that may pass (the source unreachable, a dropped connection). */
  private async withRetries<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (!isRetryableImportError(error) || attempt + 1 >= ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, this.backoffMs(attempt)));
      }
    }
  }

  private async writeChildren(repository: string, tree: Tree): Promise<void> {
    for (const child of tree.children) {
      await this.writeChildren(repository, child);
      if (!(await this.registry.metadata.getManifest(repository, child.manifest.digest))) {
        await this.write(repository, child.manifest, { digest: child.manifest.digest });
      }
    }
  }

  private async write(repository: string, manifest: FetchedManifest, target: { tag: string } | { digest: string }): Promise<void> {
    await storeManifest(this.registry, repository, manifest.content, manifest.mediaType, manifest.digest, target);
  }

  private async existingTags(plan: CopyPlan): Promise<string[]> {
    const found = await Promise.all(plan.targetTags.map(async (target) => ((await this.registry.metadata.getTaggedManifest(target.repository, target.tag)) ? `${target.repository}:${target.tag}` : undefined)));
    return found.filter((name) => name !== undefined);
  }

  private requireTagsFree(plan: CopyPlan, existing: string[]): void {
    if (!plan.force && existing.length > 0) {
      throw new ImportError("TagExists", `target tag ${existing.join(", ")} already exists; import with mode Force to replace ${existing.length === 1 ? "it" : "them"}`);
    }
  }
}

/** Passes chunks through until the source breaks off; then ends quietly, so what arrived is kept. */
async function* untilInterrupted(body: AsyncIterable<Uint8Array>, onChunk: (chunk: Uint8Array) => void, onError: (error: unknown) => void): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of body) {
      onChunk(chunk);
      yield chunk;
    }
  } catch (error) {
    onError(error);
  }
}

function manifestDigestsOf(tree: Tree): string[] {
  return [tree.manifest.digest, ...tree.children.flatMap(manifestDigestsOf)];
}

function collectBlobs(tree: Tree, into: Map<string, number>): void {
  for (const [digest, size] of tree.blobs) into.set(digest, size);
  for (const child of tree.children) collectBlobs(child, into);
}

/** The sizes the manifest's descriptors give for its blobs (0 when one is missing). */
function descriptorSizes(content: Uint8Array, digests: string[]): Map<string, number> {
  const sizes = new Map<string, number>(digests.map((digest) => [digest, 0]));
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === "object") {
      const record = value as Record<string, unknown>;
      if (typeof record.digest === "string" && typeof record.size === "number" && sizes.has(record.digest)) sizes.set(record.digest, record.size);
      Object.values(record).forEach(visit);
    }
  };
  visit(JSON.parse(Buffer.from(content).toString("utf8")));
  return sizes;
}
