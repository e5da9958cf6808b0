/**
 * The sync's content fetcher as pull-through uses it: no sync window (a client is waiting, not
 * a schedule), its own concurrency (a client's miss never waits behind a full sync's queue),
 * short retries, and a bound on every manifest GET so an unreachable parent is answered with
 * MANIFEST_UNKNOWN in seconds rather than after the sync's minute of backoff.
 */
import { RemoteError, type RegistryHttpClient } from "../../../shared/remote/http-client.js";
import { ContentFetcher, type ContentFetcherOptions, type FetchedManifest, type PartialBlobStore } from "../sync/content-fetcher.js";

export class ParentTimeoutError extends Error {}

/**
 * Sent with the HEAD that confirms a tag before a pull-through keeps it: a parent edge then
 * answers only from what it stores, never by pulling through itself. What a parent edge stores,
 * its feed reports the deletion of; what it merely passed on from its own parent, it would not,
 * and the child would keep a tag its grandparent deleted.
 */
export const STORED_ONLY_HEADER = "Connected-Registry-Stored-Only";

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

  /** Always the parent's answer now: nothing fetched earlier is kept by tag (see Applier.addTag). */
  override fetchManifest(repository: string, reference: string): Promise<FetchedManifest | undefined> {
    return this.bounded(repository, reference, super.fetchManifest(repository, reference));
  }

  /**
   * What the parent has at `tag` right now, reusing `served` (the manifest a client was
   * answered with) when the parent still has that digest there: a HEAD then, no second download.
   * Undefined when the parent has no such tag any more.
   */
  async currentManifest(repository: string, tag: string, served: FetchedManifest): Promise<FetchedManifest | undefined> {
    const what = `HEAD /v2/${repository}/manifests/${tag}`;
    const head = this.withRetries(what, async () => {
      const response = await this.client.request("HEAD", `/v2/${repository}/manifests/${tag}`, { headers: { Accept: this.accept, [STORED_ONLY_HEADER]: "1" } });
      response.body.resume();
      if (response.status === 404) return "absent" as const;
      if (response.status !== 200) throw await RemoteError.fromResponse(response, what);
      return response.headers.get("docker-content-digest") ?? undefined;
    });
    const digest = await this.bounded(repository, tag, head);
    if (digest === "absent") return undefined;
    // A parent that does not name the digest on a HEAD is asked with a GET.
    return digest === served.digest ? served : this.fetchManifest(repository, tag);
  }

  /** A manifest request (retries included) that takes longer than the deadline fails as unreachable. */
  private bounded<T>(repository: string, reference: string, request: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ParentTimeoutError(`no answer from the parent for ${repository}:${reference} within ${this.manifestDeadlineMs} ms`)), this.manifestDeadlineMs);
    });
    return Promise.race([request, deadline]).finally(() => clearTimeout(timer));
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
