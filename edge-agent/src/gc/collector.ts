/**
 * Garbage collection of the edge agent's data folder (docs/edge-agent.md "Garbage
 * collection"). A collection removes what nothing reaches any more:
 *   - manifests no tag of their repository reaches (directly, through an index, or as a
 *     referrer whose subject is kept), so a repository dropped from scope, whose tags the
 *     sync engine deleted, loses everything;
 *   - each repository's links to blobs none of its kept manifests names, and blob content
 *     no kept manifest or link names;
 *   - partial downloads, upload sessions, staged blocks and temp files older than a day;
 *   - change-log entries older than the retention that the upstream push (ReadWrite) has
 *     already read; children read within the retention, as from the cloud.
 *
 * Safe while the agent syncs, serves and takes pushes, without stopping any of them:
 *   - Nothing written or used within `graceMs` before the collection's start is deleted
 *     (file times, link `usedAt`, and the in-memory UseTracker): an upload whose manifest
 *     has not arrived yet, a pull that read its manifest a moment ago.
 *   - Every use from the collection's start on is recorded (guarded-stores.ts), and each
 *     deletion is decided again, per digest, in the step that starts it (UseTracker.sweep):
 *     a use that comes later waits for the deletion and then finds the content gone,
 *     which the registry already answers safely (MANIFEST_BLOB_UNKNOWN, a new download).
 *   - A manifest write holds what it names from its check until its tag is written
 *     (UseTracker.hold, through RegistryContext.holdReferences): a collection whose plan
 *     missed the new manifest, or saw it untagged, spares all of it, and a spared manifest
 *     keeps everything it reaches.
 * Safe against a SIGKILL at any point: only unreachable things are deleted, manifests
 * before the blobs and child manifests only they name (an index before its children), a
 * repository's links before the content, and each deletion is one unlink, atomic for
 * readers (an open read keeps its file). Whatever a killed collection leaves is garbage
 * the next one finds again.
 */
import { rm } from "node:fs/promises";
import type { ContentPresence } from "../../../shared/registry/content-presence.js";
import { purgeStaleUploads, STALE_UPLOAD_MS } from "../../../shared/registry/upload-cleanup.js";
import type { FsBlobStore } from "../store/fs-blob-store.js";
import { PARENT_SOURCE } from "../sync/applier.js";
import type { FsChangeStore } from "../store/fs-change-store.js";
import { FsMetadataStore } from "../store/fs-metadata-store.js";
import { removeManifestFiles } from "./manifest-files.js";
import { readContent, readPartials, readRepositories, readStaged, type RepositoryInventory, type StoredManifest } from "./inventory.js";
import type { UseTracker } from "./use-tracker.js";

/** Long enough for any push between its blob uploads and its manifest, and for a pull between its manifest and its layers. */
export const DEFAULT_GRACE_MS = 15 * 60 * 1000;
/** Upload sessions can stay open this long, as in the cloud (upload-cleanup.ts). */
const STALE_MS = STALE_UPLOAD_MS;
/** Change-log entries read ahead of the first one the upstream push still needs. */
const UPSTREAM_PAGE = 10_000;
/** Entries near in time to the first unpushed one are kept too: numbers and times may cross by a little. */
const UPSTREAM_MARGIN_MS = 60_000;

export interface CollectionCounts {
  blobs: number;
  manifests: number;
  links: number;
  partials: number;
  uploads: number;
  stagedBlocks: number;
  tempFiles: number;
  changes: number;
}

export interface CollectedItem {
  kind: "blob" | "manifest" | "link" | "partial" | "upload" | "staged" | "temp" | "changes";
  repository?: string;
  /** A digest, an upload id, a file, or a count of change-log entries. */
  name: string;
  bytes: number;
}

export interface CollectionResult {
  dryRun: boolean;
  startedAt: string;
  durationMs: number;
  /** Bytes removed (or, in a dry run, that would be). */
  freedBytes: number;
  removed: CollectionCounts;
  /** Found unreachable, then used again before its deletion: kept. */
  spared: number;
  /** False when the change log was not looked at (a dry run beside a running agent). */
  changesExamined: boolean;
  items: CollectedItem[];
}

export interface ChangeLogAccess {
  store: FsChangeStore;
  retentionMs: number;
  /** Whether upstream pushes happen (ReadWrite): then unpushed entries stay whatever their age. */
  readWrite: () => boolean;
  upstreamAfter: () => number;
}

export interface CollectorOptions {
  /** The data folder: blobs/, partial/, staging/, uploads/ (FsBlobStore's root). */
  blobRoot: string;
  /** FsMetadataStore's root (data folder/metadata). */
  metadataRoot: string;
  /** The agent's own instances: their per-key locks serialize with what the agent does. */
  blobs: FsBlobStore;
  metadata: FsMetadataStore;
  tracker: UseTracker;
  contentPresence?: ContentPresence;
  changes?: ChangeLogAccess;
  graceMs?: number;
  now?: () => number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Told of every real (not dry) collection that completed. */
  onCollected?: (result: CollectionResult, kind: "full" | "leftovers") => void;
}

type RunKind = "full" | "dry" | "leftovers";

export class GarbageCollector {
  private running: { kind: RunKind; result: Promise<CollectionResult> } | undefined;
  /** Deletes through an instance that records no uses: the sweep's own reads must not spare what it deletes. */
  private readonly quietMetadata: FsMetadataStore;
  private readonly now: () => number;

  constructor(private readonly options: CollectorOptions) {
    this.quietMetadata = new FsMetadataStore(options.metadataRoot);
    this.now = options.now ?? Date.now;
  }

  /**
   * Runs one collection. Only one runs at a time: a caller arriving during a collection of
   * the same kind gets its result; one of another kind waits for it and then runs.
   */
  collect(options: { dryRun?: boolean } = {}): Promise<CollectionResult> {
    return this.exclusive(options.dryRun ? "dry" : "full");
  }

  /**
   * Only the leftovers (abandoned partial downloads, uploads, staged blocks, temp files,
   * old change-log entries), without the reachability walk: cheap, so the agent runs it
   * every hour whether or not collections are enabled.
   */
  collectLeftovers(): Promise<CollectionResult> {
    return this.exclusive("leftovers");
  }

  private async exclusive(kind: RunKind): Promise<CollectionResult> {
    for (;;) {
      const running = this.running;
      if (!running) break;
      if (running.kind === kind) return running.result;
      await running.result.catch(() => undefined);
    }
    const result = this.run(kind);
    const entry = { kind, result };
    this.running = entry;
    try {
      const done = await result;
      if (kind !== "dry") this.options.onCollected?.(done, kind);
      return done;
    } finally {
      if (this.running === entry) this.running = undefined;
    }
  }

  private async run(kind: RunKind): Promise<CollectionResult> {
    const dryRun = kind === "dry";
    const started = this.now();
    const cutoff = started - (this.options.graceMs ?? DEFAULT_GRACE_MS);
    const staleBefore = started - STALE_MS;
    const { tracker, blobs } = this.options;
    const removed: CollectionCounts = { blobs: 0, manifests: 0, links: 0, partials: 0, uploads: 0, stagedBlocks: 0, tempFiles: 0, changes: 0 };
    const items: CollectedItem[] = [];
    let spared = 0;
    let freedBytes = 0;
    const recentlyUsed = (digest: string): boolean => (tracker.lastUsed(digest) ?? -Infinity) >= cutoff;

    // --- plan: what is reachable, from the files as they are now ---
    const repositories = kind === "leftovers" ? [] : await readRepositories(this.options.metadataRoot);
    const unpushed = kind === "leftovers" ? new Map<string, string[]>() : await this.unpushedManifests();
    const deadManifests: StoredManifest[] = [];
    /** Digests whose content stays: named by a kept manifest or a kept link anywhere. */
    const liveContent = new Set<string>();
    const deadLinks = new Map<string, string[]>();
    for (const repository of repositories) {
      // Roots: the tags, and in ReadWrite what the upstream push has yet to carry to the parent.
      const fromTags = reach(repository, [...[...repository.tags.values()].map((tag) => tag.digest), ...(unpushed.get(repository.name) ?? [])]);
      // Unreachable but young or just used (a push between its manifests, a pull by digest): kept, with all it reaches.
      const young = [...repository.manifests.values()].filter((m) => !fromTags.has(m.digest) && (m.modifiedMs >= cutoff || recentlyUsed(m.digest)));
      const kept = young.length === 0 ? fromTags : reach(repository, [...fromTags, ...young.map((m) => m.digest)]);
      const liveHere = new Set<string>();
      for (const tag of repository.tags.values()) for (const digest of [tag.digest, ...tag.blobDigests]) liveHere.add(digest);
      for (const digest of kept) {
        liveHere.add(digest);
        for (const blob of repository.manifests.get(digest)?.blobDigests ?? []) liveHere.add(blob);
      }
      for (const manifest of repository.manifests.values()) if (!kept.has(manifest.digest)) deadManifests.push(manifest);
      for (const link of repository.links.values()) {
        if (liveHere.has(link.digest) || link.usedMs >= cutoff || recentlyUsed(link.digest)) liveContent.add(link.digest);
        else deadLinks.set(link.digest, [...(deadLinks.get(link.digest) ?? []), repository.name]);
      }
      for (const digest of liveHere) liveContent.add(digest);
    }

    // --- manifests first: a parent before what it names, so what remains is always complete ---
    const inventoryOf = new Map(repositories.map((repository) => [repository.name, repository]));
    /** Dead manifests (repository@digest) that a spared one reaches: kept with it. */
    const rescued = new Set<string>();
    // A manifest used again since the plan (a push or sync about to tag it, a pull) keeps all it
    // reaches, like a young one: its children and their blobs may have no use of their own since
    // the collection started (an index's check reads its children, not their layers).
    const rescue = (spared: StoredManifest): void => {
      const repository = inventoryOf.get(spared.repository)!;
      for (const digest of reach(repository, [spared.digest])) {
        rescued.add(`${repository.name}@${digest}`);
        for (const blob of repository.manifests.get(digest)?.blobDigests ?? []) {
          liveContent.add(blob);
          const links = deadLinks.get(blob)?.filter((name) => name !== repository.name);
          if (links?.length) deadLinks.set(blob, links);
          else deadLinks.delete(blob);
        }
      }
    };
    for (const manifest of parentsFirst(deadManifests)) {
      if (dryRun) {
        items.push({ kind: "manifest", repository: manifest.repository, name: manifest.digest, bytes: manifest.bytes });
        continue;
      }
      if (rescued.has(`${manifest.repository}@${manifest.digest}`)) {
        spared++;
        continue;
      }
      const deleted = await tracker.sweep(manifest.digest, cutoff, async () => {
        await removeManifestFiles(this.options.metadataRoot, manifest);
      });
      if (!deleted) {
        spared++;
        rescue(manifest);
        continue;
      }
      removed.manifests++;
      freedBytes += manifest.bytes;
      items.push({ kind: "manifest", repository: manifest.repository, name: manifest.digest, bytes: manifest.bytes });
    }
    if (dryRun) {
      removed.manifests = deadManifests.length;
      for (const manifest of deadManifests) freedBytes += manifest.bytes;
    }

    // --- then each digest's dead links, then its content ---
    const { content, temp } = await readContent(this.options.blobRoot, { tempOnly: kind === "leftovers" });
    const contentByDigest = new Map(content.map((file) => [file.key, file]));
    const digests = new Set<string>(deadLinks.keys());
    for (const file of content) if (!liveContent.has(file.key) && file.modifiedMs < cutoff && !recentlyUsed(file.key)) digests.add(file.key);
    for (const digest of digests) {
      const links = deadLinks.get(digest) ?? [];
      const file = contentByDigest.get(digest);
      const contentDies = file !== undefined && !liveContent.has(digest) && file.modifiedMs < cutoff;
      const planned: CollectedItem[] = [
        ...links.map((repository): CollectedItem => ({ kind: "link", repository, name: digest, bytes: 0 })),
        ...(contentDies ? [{ kind: "blob", name: digest, bytes: file.bytes } satisfies CollectedItem] : []),
      ];
      if (dryRun) {
        items.push(...planned);
        removed.links += links.length;
        if (contentDies) {
          removed.blobs++;
          freedBytes += file.bytes;
        }
        continue;
      }
      const deleted = await tracker.sweep(digest, cutoff, async () => {
        for (const repository of links) await this.quietMetadata.deleteBlobLink(repository, digest);
        if (contentDies) {
          await blobs.delete(digest);
          this.options.contentPresence?.forget(digest);
        }
      });
      if (!deleted) {
        spared++;
        continue;
      }
      items.push(...planned);
      removed.links += links.length;
      if (contentDies) {
        removed.blobs++;
        freedBytes += file.bytes;
      }
    }
    if (!dryRun && freedBytes > 0) this.options.log?.("garbage collection removed unreachable content", { ...removed, freedBytes });

    // --- leftovers: downloads, uploads and writes abandoned for a day ---
    for (const partial of await readPartials(this.options.blobRoot)) {
      if (partial.modifiedMs >= staleBefore || recentlyUsed(partial.key)) continue;
      if (!dryRun && !(await tracker.sweep(partial.key, cutoff, () => blobs.discardPartial(partial.key)))) continue;
      removed.partials++;
      freedBytes += partial.bytes;
      items.push({ kind: "partial", name: partial.key, bytes: partial.bytes });
    }
    const staleUploads = await this.options.metadata.listStaleUploads(new Date(staleBefore), Number.MAX_SAFE_INTEGER);
    if (dryRun) removed.uploads = staleUploads.length;
    else removed.uploads = await purgeStaleUploads(this.options.metadata, blobs, new Date(started), () => undefined);
    for (const upload of staleUploads.slice(0, removed.uploads)) items.push({ kind: "upload", repository: upload.repository, name: upload.id, bytes: upload.offset });
    const staged = (await readStaged(this.options.blobRoot)).filter((file) => file.modifiedMs < staleBefore);
    if (dryRun) removed.stagedBlocks = staged.length;
    else removed.stagedBlocks = await blobs.purgeStaging(new Date(staleBefore));
    for (const file of staged) freedBytes += file.bytes;
    for (const file of temp) {
      if (file.modifiedMs >= staleBefore) continue;
      if (!dryRun) await rm(file.path, { force: true });
      removed.tempFiles++;
      freedBytes += file.bytes;
      items.push({ kind: "temp", name: file.key, bytes: file.bytes });
    }

    // --- the change log ---
    const changes = this.options.changes;
    if (changes) {
      removed.changes = await this.purgeChanges(changes, started, dryRun);
      if (removed.changes > 0) items.push({ kind: "changes", name: `${removed.changes} change-log entries`, bytes: 0 });
    }

    // Uses older than this cutoff can never spare anything again (later cutoffs are later): forgotten, hourly at least.
    if (!dryRun) tracker.prune(cutoff);
    return {
      dryRun,
      startedAt: new Date(started).toISOString(),
      durationMs: this.now() - started,
      freedBytes,
      removed,
      spared,
      changesExamined: changes !== undefined,
      items,
    };
  }

  /** In ReadWrite, the manifests of local changes the upstream push has not read yet, by repository: they must reach the parent. */
  private async unpushedManifests(): Promise<Map<string, string[]>> {
    const byRepository = new Map<string, string[]>();
    const changes = this.options.changes;
    if (!changes?.readWrite()) return byRepository;
    for (const entry of await changes.store.readAfter(changes.upstreamAfter(), Number.MAX_SAFE_INTEGER)) {
      if (entry.source === PARENT_SOURCE || !entry.digest || (entry.kind !== "tag.set" && entry.kind !== "manifest.put")) continue;
      byRepository.set(entry.repository, [...(byRepository.get(entry.repository) ?? []), entry.digest]);
    }
    return byRepository;
  }

  /** Entries past the retention, except those the upstream push has not read yet. */
  private async purgeChanges(changes: ChangeLogAccess, started: number, dryRun: boolean): Promise<number> {
    let cutoff = started - changes.retentionMs;
    if (changes.readWrite()) {
      const unpushed = await changes.store.readAfter(changes.upstreamAfter(), UPSTREAM_PAGE);
      for (const entry of unpushed) cutoff = Math.min(cutoff, Date.parse(entry.createdAt) - UPSTREAM_MARGIN_MS);
    }
    if (dryRun) {
      const all = await changes.store.readAfter(0, Number.MAX_SAFE_INTEGER);
      return all.filter((entry) => Date.parse(entry.createdAt) < cutoff).length;
    }
    return changes.store.deleteOlderThan(new Date(cutoff), Number.MAX_SAFE_INTEGER);
  }
}

/**
 * The manifests of a repository reachable from `roots`: through an index's children, and
 * to referrers (manifests whose subject is reached). Digests named but not stored count too
 * (a tag's manifest whose file is gone still names its blobs through the tag file).
 */
function reach(repository: RepositoryInventory, roots: Iterable<string>): Set<string> {
  const referrersOf = new Map<string, string[]>();
  for (const manifest of repository.manifests.values()) {
    if (manifest.subjectDigest) referrersOf.set(manifest.subjectDigest, [...(referrersOf.get(manifest.subjectDigest) ?? []), manifest.digest]);
  }
  const reached = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    const digest = queue.pop()!;
    if (reached.has(digest)) continue;
    reached.add(digest);
    const manifest = repository.manifests.get(digest);
    const tagged = [...repository.tags.values()].find((tag) => tag.digest === digest && !manifest);
    for (const child of manifest?.manifestDigests ?? tagged?.manifestDigests ?? []) queue.push(child);
    for (const referrer of referrersOf.get(digest) ?? []) queue.push(referrer);
  }
  return reached;
}

/** Dead manifests ordered so that each comes before every dead manifest it names (an index before its children). */
function parentsFirst(manifests: StoredManifest[]): StoredManifest[] {
  const byKey = new Map(manifests.map((m) => [`${m.repository}@${m.digest}`, m]));
  const done = new Set<string>();
  const childrenFirst: StoredManifest[] = [];
  const visit = (manifest: StoredManifest): void => {
    const key = `${manifest.repository}@${manifest.digest}`;
    if (done.has(key)) return;
    done.add(key);
    for (const child of manifest.manifestDigests) {
      const dead = byKey.get(`${manifest.repository}@${child}`);
      if (dead) visit(dead);
    }
    childrenFirst.push(manifest);
  };
  for (const manifest of manifests) visit(manifest);
  return childrenFirst.reverse();
}
