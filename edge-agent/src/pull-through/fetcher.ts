/**
 * The sync's content fetcher as pull-through uses it: no sync window (a client is waiting, not
 * a schedule), its own concurrency (a client's miss never waits behind a full sync's queue),
 * short retries, and a bound on every manifest GET so an unreachable parent is answered with
 * MANIFEST_UNKNOWN in seconds rather than after the sync's minute of backoff.
 */
import type { RegistryHttpClient } from "../../../shared/remote/http-client.js";
import { ContentFetcher, type ContentFetcherOptions, type FetchedManifest, type PartialBlobStore } from "../sync/content-fetcher.js";

export class ParentTimeoutError extends Error {}

export class PullThroughFetcher extends ContentFetcher {
  constructor(
    client: RegistryHttpClient,
    private readonly store: PartialBlobStore,
    options: ContentFetcherOptions,
    /** A manifest GET (retries included) that takes longer fails as unreachable. */
    private readonly manifestDeadlineMs: number,
  ) {
    // Retries 0.1, 0.2, 0.3, 0.4 s: an unreachable parent is known within about a second.
    super(client, store, { backoffMs: (attempt) => 100 * attempt, ...options });
  }

  /**
   * Always the parent's answer now. (Manifests served to a client are not kept for the store
   * that follows: a tag's answer may be stale by then; see Applier.addTag.)
   */
  override fetchManifest(repository: string, reference: string): Promise<FetchedManifest | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ParentTimeoutError(`no answer from the parent for ${repository}:${reference} within ${this.manifestDeadlineMs} ms`)), this.manifestDeadlineMs);
    });
    return Promise.race([super.fetchManifest(repository, reference), deadline]).finally(() => clearTimeout(timer));
  }

  /** Bytes of the digest downloaded so far (0: nothing arrived). */
  partialSize(digest: string): Promise<number> {
    return this.store.partialSize(digest);
  }

  /** The stored (verified) size, undefined when not stored. */
  storedSize(digest: string): Promise<number | undefined> {
    return this.store.stat(digest);
  }
}
