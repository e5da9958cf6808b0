/**
 * Referrers travel with their images (docs/sync-protocol.md section 5): after a walk applies
 * a tag, or the feed brings a manifest new to this edge, the manifests whose `subject` names
 * it (signatures, SBOMs, attestations) are asked of the parent's referrers API and stored by
 * digest, then their own referrers (a signature of an SBOM), and so on. A walk asks every
 * time, since a referrer pushed while the edge was not reading the feed (before activation,
 * before the repository joined the scope, past an expired cursor) is not in any feed it reads.
 *
 * Removal needs nothing here: a referrer the parent deleted is a feed `manifest.delete`, or
 * found by the walk's reconciliation (local-only.ts asks the parent about every untagged
 * manifest); a referrer whose subject was deleted is unreachable and the edge's garbage
 * collection takes it (gc/collector.ts keeps referrers of kept manifests only).
 */
import { MANIFEST_MEDIA_TYPES } from "../../../shared/domain/media-types.js";
import { RemoteError, type RegistryHttpClient } from "../../../shared/remote/http-client.js";
import type { MetadataStore } from "../../../shared/store/interfaces.js";
import type { Logger } from "../log.js";
import type { Applier } from "./applier.js";
import type { ItemKey } from "./failed-items.js";
import { runLimited } from "./run-limited.js";

/** Referrers lists asked at once for one image (its index and platform manifests, then their referrers). */
const REFERRER_CONCURRENCY = 4;
/** A signature of an SBOM of an attestation...: deeper than this is a loop or abuse, not a supply chain. */
const MAX_DEPTH = 8;
/** A list asked ahead (`prefetch`) and not used within this long is asked again (its image's sync failed or stalled). */
const PREFETCH_TTL_MS = 60_000;

export interface ReferrerSyncOptions {
  client: RegistryHttpClient;
  applier: Applier;
  metadata: MetadataStore;
  log: Logger;
  /** Runs one object's sync the engine's way: a failure of that object is recorded and retried later, one of the link stops the cycle. */
  isolate: (item: ItemKey, apply: () => Promise<unknown>) => Promise<boolean>;
}

export class ReferrerSync {
  /** Set when the parent answered 404 to the referrers API (a registry without it): asked again after an hour. */
  private unsupportedUntil = 0;

  /** Lists asked ahead by `prefetch`, by repository@subject, with when they were asked. */
  private readonly prefetched = new Map<string, { at: number; digests: Promise<string[]> }>();

  constructor(private readonly options: ReferrerSyncOptions) {}

  /**
   * Asks the parent for the referrers of `subject` now, for a `forTag`/`forManifest` that
   * comes once the subject is stored: a walk asks while the image downloads, so the last
   * images of a sync do not wait for one more round trip each. An answer asked this early is
   * as good as one asked later: a referrer pushed in between comes with the feed, which
   * continues from before the walk.
   */
  prefetch(repository: string, subject: string): void {
    const now = Date.now();
    for (const [key, entry] of this.prefetched) if (now - entry.at > PREFETCH_TTL_MS) this.prefetched.delete(key);
    const key = `${repository}@${subject}`;
    if (this.prefetched.has(key)) return;
    const digests = this.askParent(repository, subject);
    // A failure is met by the one who uses the answer (it is thrown there), or by nobody.
    digests.catch(() => {});
    this.prefetched.set(key, { at: now, digests });
  }

  /** After a walk applied `tag`: the referrers of its manifest (and of an index's platform manifests), recursively. */
  async forTag(repository: string, tag: string): Promise<void> {
    const record = await this.options.metadata.getTaggedManifest(repository, tag);
    if (record) await this.forManifest(repository, record.digest);
  }

  /**
   * Runs `apply` (a feed entry's tag.set or manifest.put) and, when it brought `digest` to this
   * edge for the first time, its referrers: those pushed later arrive in the feed themselves.
   */
  async withReferrers<T>(repository: string, digest: string, apply: () => Promise<T>): Promise<T> {
    const present = (await this.options.metadata.getManifest(repository, digest)) !== undefined;
    const result = await apply();
    if (!present && (await this.options.metadata.getManifest(repository, digest))) await this.forManifest(repository, digest);
    return result;
  }

  /** The referrers of `digest` and of the manifests it names (an index's platforms), each stored, then theirs. */
  async forManifest(repository: string, digest: string, depth = 0, seen = new Set<string>()): Promise<void> {
    if (depth > MAX_DEPTH || seen.has(digest)) return;
    seen.add(digest);
    const record = await this.options.metadata.getManifest(repository, digest);
    // Children a platform filter left absent (a sparse index) have no referrers here either.
    const present = await Promise.all((record?.manifestDigests ?? []).map(async (child) => ((await this.options.metadata.getManifest(repository, child)) ? child : undefined)));
    const subjects = [digest, ...present.filter((child): child is string => child !== undefined && !seen.has(child))];
    for (const child of subjects.slice(1)) seen.add(child);
    await runLimited(subjects, REFERRER_CONCURRENCY, async (subject) => {
      for (const referrer of await this.parentReferrers(repository, subject)) {
        if (seen.has(referrer)) continue;
        const stored = await this.options.isolate({ repository, digest: referrer }, () => this.options.applier.applyManifest(repository, referrer));
        if (stored) await this.forManifest(repository, referrer, depth + 1, seen);
      }
    });
  }

  /** The digests the parent's referrers API lists for `subject` (asked ahead, or now); none when the parent has no such API. */
  private parentReferrers(repository: string, subject: string): Promise<string[]> {
    const key = `${repository}@${subject}`;
    const asked = this.prefetched.get(key);
    this.prefetched.delete(key);
    if (asked && Date.now() - asked.at <= PREFETCH_TTL_MS) return asked.digests;
    return this.askParent(repository, subject);
  }

  private async askParent(repository: string, subject: string): Promise<string[]> {
    if (Date.now() < this.unsupportedUntil) return [];
    const path = `/v2/${repository}/referrers/${subject}`;
    const response = await this.options.client.request("GET", path, { headers: { Accept: MANIFEST_MEDIA_TYPES.join(", ") } });
    if (response.status === 404) {
      // The spec: the API answers 200 (an empty index) for any subject, so 404 means "no referrers API".
      response.body.resume();
      this.unsupportedUntil = Date.now() + 60 * 60_000;
      this.options.log.info("the parent has no referrers API (404): referrers are not synced; asking again in an hour", { repository });
      return [];
    }
    if (response.status !== 200) throw await RemoteError.fromResponse(response, `GET ${path}`);
    const index = await response.json<{ manifests?: Array<{ digest?: unknown }> }>();
    return (index.manifests ?? []).map((descriptor) => descriptor.digest).filter((value): value is string => typeof value === "string");
  }
}
