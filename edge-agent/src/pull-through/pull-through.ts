/**
 * Pull-through on a miss (docs/edge-agent.md, "Pull-through"): a client allowed to pull asks
 * the edge for a manifest or blob of a repository in the edge's scope that is not there yet
 * (outside the sync window, just pushed, a tag filtered out); the edge fetches it from its
 * parent with its sync token, stores it as the sync would, and answers as if it had been there.
 * The connected registry's filters: a platform they leave out is never fetched, a tag they
 * leave out is served but stored untagged (docs/edge-agent.md "Filters").
 *
 * Streamed, and nothing half-done is ever served later: a manifest miss is answered as soon as
 * the manifest is fetched (verified against its digest) and stored a moment later, after the
 * blob GETs that follow it, through the sync's fetcher and applier (blobs before manifests, the
 * tag last); a blob miss is streamed to the client and into the store at once (stream.ts), and
 * the store makes it visible only once its sha256 matched. Range requests and resumable partial
 * downloads take the store-then-serve path (the fetcher, then the engine).
 *
 * It is a wrapper around the /v2/ handler: the engine answers first (authorization included:
 * only a 404 after a granted pull reaches the miss path), so out-of-scope requests and every
 * other error stay what they were. A repository outside the connected registry's scope is
 * never asked for. When the parent cannot be reached quickly the original 404 is answered.
 */
import type { Handler, HandlerRequest, HandlerResponse } from "../../../shared/http/types.js";
import type { MetadataStore } from "../../../shared/store/interfaces.js";
import { parseV2Path } from "../../../shared/registry/route-path.js";
import { lookupReference } from "../../../shared/registry/validate.js";
import { parseDigest } from "../../../shared/domain/digest.js";
import type { RegistryContext } from "../../../shared/registry/context.js";
import type { RegistryHttpClient } from "../../../shared/remote/http-client.js";
import { Applier } from "../sync/applier.js";
import type { BandwidthLimit } from "../sync/bandwidth.js";
import { referencedContent, type ContentFetcherOptions, type FetchedManifest, type PartialBlobStore } from "../sync/content-fetcher.js";
import { acceptsMediaType } from "../../../shared/domain/media-types.js";
import { streamBlob, type BlobStreamDeps, type LiveBlob } from "./stream.js";
import { ParentTimeoutError, PullThroughFetcher, STORED_ONLY_HEADER } from "./fetcher.js";
import { isTransientError, RemoteError } from "../../../shared/remote/http-client.js";
import { errorText, type Logger } from "../log.js";
import { ServedPlatforms, type ExplainChild } from "./served-platforms.js";
import { RegistryError } from "../../../shared/domain/registry-errors.js";
import { errorResponse } from "../../../shared/registry/respond.js";

export interface PullThroughDeps {
  /** The /v2/ handler of the engine over the edge's stores. */
  inner: Handler;
  metadata: MetadataStore;
  /** The pull-through's own fetcher (no sync window, its own concurrency; see createPullThroughFetcher). */
  fetcher: PullThroughFetcher;
  /** An applier over that fetcher: writes what arrived exactly as the sync does. */
  applier: Applier;
  /** The repositories of the connected registry's scope (its current configuration). */
  repositories: () => readonly string[];
  /** Whether the connected registry's filters leave the manifest out (sync/filters.ts filteredMiss); none when absent. */
  filtered?: (repository: string, reference: string) => Promise<"platform" | "tag" | undefined>;
  /** Why a platform manifest of a served index is filtered out (sync/filters.ts explainChild). */
  explainChild?: ExplainChild;
  /** How long a blob miss waits for a first byte from the parent before answering BLOB_UNKNOWN. */
  offlineMs: number;
  /** Blobs streamed from the parent at once; more wait for the fetcher (which has the same bound). */
  concurrency: number;
  stream: BlobStreamDeps;
  log: Logger;
}

/** Counts for /status and tests: what was brought in and what could not be. */
export interface PullThroughCounts {
  manifests: number;
  blobs: number;
  failed: number;
}

export function withPullThrough(deps: PullThroughDeps): Handler & { counts: PullThroughCounts } {
  const counts: PullThroughCounts = { manifests: 0, blobs: 0, failed: 0 };
  // Single flight: clients missing the same thing at once share one fetch.
  const running = new Map<string, Promise<boolean>>();

  const once = (key: string, fetch: () => Promise<boolean>): Promise<boolean> => {
    const existing = running.get(key);
    if (existing) return existing;
    const started = fetch().finally(() => running.delete(key));
    running.set(key, started);
    return started;
  };

  // After the parent failed to answer, misses are answered at once for a while: a burst of pulls
  // while offline must not each wait for the parent.
  let offlineUntil = 0;

  // Blobs being streamed from the parent, by digest, and how many per repository.
  const streams = new Map<string, Promise<boolean>>();
  const streamsIn = new Map<string, number>();
  // Repositories whose fetched manifest is being stored (the applier downloads there: no streams meanwhile).
  const completing = new Set<string>();
  const fetching = new Map<string, Promise<FetchedManifest | undefined>>();
  // Manifests answered but not stored yet: later clients of the same digest get the same answer
  // without asking the parent. Written only if the parent still has it when stored (Applier.addTag, currentManifest).
  const served = new Map<string, FetchedManifest>();
  // Filtered-out platforms of indexes served but not stored yet: refused like those of a stored index.
  const servedPlatforms = deps.explainChild ? new ServedPlatforms(deps.explainChild) : undefined;

  /**
   * A manifest miss: fetched (one GET however many clients ask) and answered at once, not yet
   * stored; the client's blob GETs that follow are streamed. The image is stored a moment later
   * (storeLater), once those streams are done, so the manifest and tag are written last.
   */
  const serveManifest = async (miss: Extract<Miss, { kind: "manifest" }>, request: HandlerRequest, unknown: HandlerResponse): Promise<HandlerResponse | undefined> => {
    const key = `${miss.name} ${miss.reference}`;
    // An answer kept for its store is served again only by digest (content that cannot change):
    // a tag may have been moved or deleted at the parent since, and a child edge checking the tag
    // before keeping it must get the parent's answer now, or it keeps a tag the parent deleted.
    const kept = "digest" in lookupReference(miss.reference)! ? served.get(key) : undefined;
    let fetch = kept ? Promise.resolve(kept) : fetching.get(key);
    if (!fetch) {
      // Kept until the manifest is served (then `served` holds it) or known missing, so no client in between fetches again.
      fetch = deps.fetcher.fetchManifest(miss.name, miss.reference);
      fetching.set(key, fetch);
      fetch.then(
        (found) => void (found ? undefined : fetching.delete(key)),
        () => fetching.delete(key),
      );
    }
    const manifest = await fetch;
    if (!manifest) return unknown;
    const accept = request.headers.get("accept");
    // Not what the client accepts: the stored path answers with the engine's own error.
    if (!acceptsMediaType(accept ? [accept] : [], manifest.mediaType)) {
      fetching.delete(key);
      return undefined;
    }
    try {
      // An image that cannot be stored is not offered: with no room, the client gets MANIFEST_UNKNOWN as without pull-through.
      (await deps.stream.room?.reserve(referencedContent(manifest.content, manifest.mediaType).blobs, `${miss.name}:${miss.reference}`))?.release();
    } catch (error) {
      fetching.delete(key);
      throw error;
    }
    fetching.delete(key);
    const owned = !served.has(key);
    if (owned) served.set(key, manifest);
    void once(`manifest ${miss.name} ${miss.reference}`, () => storeLater(miss.name, miss.reference, manifest))
      // Whichever store ran under this key (this one, or one already running), the answer it
      // kept goes with it: a kept answer must never outlive its store and be served for good.
      .finally(() => void (owned && served.get(key) === manifest && served.delete(key)))
      .then(
        (stored) => {
          if (stored) counts.manifests++;
        },
        (error: unknown) => {
          counts.failed++;
          deps.log.warn("pull-through: a manifest served from the parent could not be stored; the next pull or sync tries again", { repository: miss.name, reference: miss.reference, error: errorText(error) });
        },
      );
    const headers = { "Content-Type": manifest.mediaType, "Content-Length": String(manifest.content.byteLength), "Docker-Content-Digest": manifest.digest, ETag: `"${manifest.digest}"` };
    return request.method === "HEAD" ? { status: 200, headers } : { status: 200, headers, body: manifest.content };
  };

  const storeLater = async (repository: string, reference: string, served: FetchedManifest): Promise<boolean> => {
    // The client asks for the blobs right after the manifest: let those stream first.
    await delay(STORE_AFTER_MS);
    while ((streamsIn.get(repository) ?? 0) > 0) await delay(100);
    completing.add(repository);
    try {
      return await bringManifest(deps, repository, reference, served);
    } finally {
      completing.delete(repository);
    }
  };

  /** A blob GET miss (no Range, nothing partial): streamed from the parent to the client and the store. */
  const serveBlob = async (miss: Extract<Miss, { kind: "blob" }>, request: HandlerRequest, unknown: HandlerResponse): Promise<HandlerResponse | undefined> => {
    const running = streams.get(miss.digest);
    if (running) {
      // One download per digest: this client gets the stored blob when it is in.
      await running;
      return (await deps.metadata.getBlobLink(miss.name, miss.digest)) ? deps.inner(request) : undefined;
    }
    if (request.headers.get("range") || completing.has(miss.name) || streams.size >= deps.concurrency) return undefined;
    // Registered before the first await, so a second client of the digest waits for this one.
    const begin = async (): Promise<LiveBlob | "resume" | undefined> => {
      if ((await deps.fetcher.partialSize(miss.digest)) > 0) return "resume"; // the fetcher resumes it with a Range request
      return streamBlob(deps.stream, miss.name, miss.digest, request.signal);
    };
    const beginning = begin();
    const started = Date.now();
    streamsIn.set(miss.name, (streamsIn.get(miss.name) ?? 0) + 1);
    const stored = beginning
      .then((live) => (typeof live === "object" ? live.stored : false))
      .finally(() => {
        streams.delete(miss.digest);
        const left = (streamsIn.get(miss.name) ?? 1) - 1;
        if (left > 0) streamsIn.set(miss.name, left);
        else streamsIn.delete(miss.name);
      });
    streams.set(miss.digest, stored);
    stored.then(
      (streamed) => {
        if (!streamed) return;
        counts.blobs++;
        deps.log.info("pull-through: streamed from the parent and stored", { repository: miss.name, reference: miss.digest, ms: Date.now() - started });
      },
      (error: unknown) => {
        counts.failed++;
        deps.log.warn("pull-through: a blob from the parent was not stored; the next pull or sync tries again", { repository: miss.name, reference: miss.digest, error: errorText(error) });
      },
    );
    const live = await beginning;
    if (live === "resume") return undefined;
    return live ? live.response : unknown;
  };

  const handler = async (request: HandlerRequest): Promise<HandlerResponse> => {
    const response = await deps.inner(request);
    if (response.status !== 404 || (request.method !== "GET" && request.method !== "HEAD")) return response;
    const miss = missOf(request);
    if (!miss || !deps.repositories().includes(miss.name)) return response;
    // A HEAD of a blob is how a pusher asks "do you have it?" (a ReadWrite edge): not a pull.
    if (miss.kind === "blob" && request.method === "HEAD") return response;
    // A child edge confirming a tag before it keeps it asks only what this edge stores (fetcher.ts).
    if (request.headers.get(STORED_ONLY_HEADER)) return response;
    if (Date.now() < offlineUntil) return response;
    // A platform the filter leaves out is never fetched (the engine's "filtered out at this edge"
    // answer stands); a tag it leaves out is served from the parent but not kept as a tag.
    const filtered = miss.kind === "manifest" ? await deps.filtered?.(miss.name, miss.reference) : undefined;
    if (filtered === "platform") return response;
    const reason = miss.kind === "manifest" ? servedPlatforms?.reason(miss.name, miss.reference) : undefined;
    if (reason && miss.kind === "manifest") return errorResponse(new RegistryError("MANIFEST_UNKNOWN", reason, { detail: { name: miss.name, reference: miss.reference, filtered: true } }), request.method);

    const started = Date.now();
    let brought: boolean;
    try {
      // Streamed where it can be: the manifest answered as soon as it is fetched, a blob as it arrives.
      const live = miss.kind === "manifest" ? await serveManifest(miss, request, response) : await serveBlob(miss, request, response);
      if (live && miss.kind === "manifest") servedPlatforms?.note(miss.name, live);
      if (live) return live;
      // Stored untagged, a filtered-out tag could not be answered from the store: the filter's answer stands.
      if (filtered === "tag") return response;
      brought =
        miss.kind === "manifest"
          ? await once(`manifest ${miss.name} ${miss.reference}`, () => bringManifest(deps, miss.name, miss.reference))
          : await once(`blob ${miss.name} ${miss.digest}`, () => bringBlob(deps, miss.name, miss.digest));
    } catch (error) {
      counts.failed++;
      if (error instanceof ParentTimeoutError || isTransientError(error)) offlineUntil = Date.now() + deps.offlineMs;
      deps.log.warn("pull-through: could not bring the content from the parent; answering that it is unknown", {
        repository: miss.name,
        reference: miss.kind === "manifest" ? miss.reference : miss.digest,
        error: errorText(error),
      });
      return response;
    }
    if (!brought) return response;
    if (miss.kind === "manifest") counts.manifests++;
    else counts.blobs++;
    deps.log.info("pull-through: brought from the parent", {
      repository: miss.name,
      reference: miss.kind === "manifest" ? miss.reference : miss.digest,
      ms: Date.now() - started,
    });
    // Now stored like synced content: the engine answers (Accept, Range and HEAD rules included).
    return deps.inner(request);
  };
  return Object.assign(handler, { counts });
}

type Miss = { kind: "manifest"; name: string; reference: string } | { kind: "blob"; name: string; digest: string };

function missOf(request: HandlerRequest): Miss | undefined {
  let target;
  try {
    target = parseV2Path(request.url.pathname);
  } catch {
    return undefined; // a malformed path: the engine's answer stands
  }
  if (target?.kind === "manifest" && lookupReference(target.reference)) return target;
  if (target?.kind === "blob" && parseDigest(target.digest)) return target;
  return undefined;
}

/** The tag or digest with everything under it; false when the parent does not have it (or did not answer in time). */
async function bringManifest(deps: PullThroughDeps, repository: string, reference: string, served?: FetchedManifest): Promise<boolean> {
  const parsed = lookupReference(reference)!;
  // A tag the filter leaves out is never written (the next walk would delete it): its image is kept untagged.
  if ("tag" in parsed && (await deps.filtered?.(repository, reference)) === "tag") return bringUntagged(deps, repository, parsed.tag, served);
  // A tag only if the edge still has none (the sync may have written, moved or deleted it since
  // the miss), as the parent has it now: the answer the client got is reused only if the
  // parent still has that digest at the tag.
  if ("tag" in parsed) return deps.applier.addTag(repository, parsed.tag, served ? () => deps.fetcher.currentManifest(repository, parsed.tag, served) : undefined);
  // A manifest the engine did not find may still be stored (another Accept): nothing to bring.
  if (await deps.metadata.getManifest(repository, parsed.digest)) return false;
  return deps.applier.applyManifest(repository, parsed.digest);
}

/**
 * A tag the filter leaves out, served to a client: its image is stored by digest, untagged (a
 * tag would fight the filter: the next walk deletes it), so the garbage collector takes it.
 */
async function bringUntagged(deps: PullThroughDeps, repository: string, tag: string, served?: FetchedManifest): Promise<boolean> {
  // The digest the client was answered with (its content cannot change, unlike the tag's).
  const digest = (served ?? (await deps.fetcher.fetchManifest(repository, tag)))?.digest;
  if (!digest || (await deps.metadata.getManifest(repository, digest))) return false;
  return deps.applier.applyManifest(repository, digest);
}

/**
 * One blob, linked to the repository once stored and verified. The download is not tied to
 * the client: one that goes away does not cut it, and the next asks find it stored. If no
 * byte arrived within offlineMs the parent counts as unreachable for this request.
 */
async function bringBlob(deps: PullThroughDeps, repository: string, digest: string): Promise<boolean> {
  if (await deps.metadata.getBlobLink(repository, digest)) return false;
  const download = deps.fetcher.ensureBlob(repository, digest).then(
    () => true,
    (error: unknown) => {
      // The parent does not have it in this repository: unknown here too, nothing to log.
      if (error instanceof RemoteError && error.status === 404) return false;
      throw error;
    },
  );
  const outcome = await Promise.race([download, delay(deps.offlineMs).then(() => "slow" as const)]);
  if (outcome === false) return false;
  if (outcome === "slow") {
    // Bytes arriving: the parent answers, the blob is just large. Nothing yet: give up on this request.
    if ((await deps.fetcher.partialSize(digest)) === 0) {
      download.catch(() => {}); // it ends by itself (retries exhausted); nobody waits for it
      throw new ParentTimeoutError(`no answer from the parent within ${deps.offlineMs} ms`);
    }
    if (!(await download)) return false;
  }
  const size = await deps.fetcher.storedSize(digest);
  if (size === undefined) return false;
  await deps.metadata.putBlobLink(repository, { digest, size });
  return true;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export interface PullThroughSetup {
  inner: Handler;
  registry: RegistryContext;
  client: RegistryHttpClient;
  blobs: PartialBlobStore;
  setting: false | { concurrency: number } | undefined;
  repositories: () => readonly string[];
  /** The link's cap, shared with the sync (sync/bandwidth.ts). */
  bandwidth: BandwidthLimit;
  acceptedMediaTypes: string[];
  room: ContentFetcherOptions["room"];
  onBytes: (n: number) => void;
  /** The connected registry's filters: which platforms of an index to fetch, which misses are filtered out. */
  keepsChild?: ContentFetcherOptions["keepsChild"];
  filtered?: PullThroughDeps["filtered"];
  explainChild?: ExplainChild;
  log: Logger;
}

/** Parent unreachable: a miss is answered as unknown within about this long. */
export const PULL_THROUGH_OFFLINE_MS = 3000;
const DEFAULT_CONCURRENCY = 4;
/** A manifest served before it is stored is stored this long after (its blobs stream meanwhile). */
const STORE_AFTER_MS = 1000;

/** The /v2/ handler with pull-through around it, or the handler as it was when the setting is off. */
export function pullThroughHandler(setup: PullThroughSetup): Handler {
  if (setup.setting === false) return setup.inner;
  const fetcher = new PullThroughFetcher(
    setup.client,
    setup.blobs,
    {
      concurrency: setup.setting?.concurrency ?? DEFAULT_CONCURRENCY,
      acceptedMediaTypes: setup.acceptedMediaTypes,
      bandwidth: setup.bandwidth,
      onBytes: setup.onBytes,
      ...(setup.room ? { room: setup.room } : {}),
      ...(setup.keepsChild ? { keepsChild: setup.keepsChild } : {}),
      log: (message) => setup.log.debug(`pull-through: ${message}`),
    },
    PULL_THROUGH_OFFLINE_MS,
  );
  return withPullThrough({
    inner: setup.inner,
    metadata: setup.registry.metadata,
    fetcher,
    applier: new Applier(setup.registry, fetcher),
    repositories: setup.repositories,
    ...(setup.filtered ? { filtered: setup.filtered } : {}),
    ...(setup.explainChild ? { explainChild: setup.explainChild } : {}),
    offlineMs: PULL_THROUGH_OFFLINE_MS,
    concurrency: setup.setting?.concurrency ?? DEFAULT_CONCURRENCY,
    stream: {
      client: setup.client,
      blobs: setup.blobs,
      metadata: setup.registry.metadata,
      bandwidth: setup.bandwidth,
      onBytes: setup.onBytes,
      offlineMs: PULL_THROUGH_OFFLINE_MS,
      ...(setup.room ? { room: setup.room } : {}),
    },
    log: setup.log,
  });
}
