/**
 * Moves content from the parent into the edge's blob store: manifests (verified against the
 * digest asked for or announced), blobs (resumable with Range, verified by the store when the
 * partial file is completed), and whole image trees (an index, its platform manifests, every
 * blob), children before parents so the caller can write manifests bottom-up (docs/edge-agent.md:
 * nothing is written before what it points at).
 */
import { createHash } from "node:crypto";
import { parseDigest } from "../../../shared/domain/digest.js";
import { MAX_MANIFEST_BYTES, parseManifest } from "../../../shared/domain/manifest.js";
import { bareMediaType, isNonDistributableLayer } from "../../../shared/domain/media-types.js";
import { DigestMismatchError } from "../store/fs-blob-store.js";
import { RemoteError, isTransientError, type BufferReader, type RegistryHttpClient, type RemoteResponse } from "../../../shared/remote/http-client.js";
import type { BandwidthLimit } from "./bandwidth.js";
import type { SyncWindow } from "./sync-window.js";
import { governed, governedReader } from "./governed-stream.js";

// One mismatch class for the store's verification and the fetcher's (manifests), so callers
// need a single instanceof.
export { DigestMismatchError };

/** The part of FsBlobStore (edge-agent/src/store) the fetcher needs. */
export interface PartialBlobStore {
  stat(digest: string): Promise<number | undefined>;
  partialSize(digest: string): Promise<number>;
  appendPartial(digest: string, body: AsyncIterable<Uint8Array> | BufferReader): Promise<number>;
  /** Verifies and moves the partial into place; throws DigestMismatchError (and removes it) when wrong. */
  completePartial(digest: string): Promise<void>;
  discardPartial(digest: string): Promise<void>;
  /** Runs `work` as the digest's only writer from first append to completion; `waited`: another writer ran first. */
  writingPartial<T>(digest: string, work: (waited: boolean) => Promise<T>): Promise<T>;
  /** The digest's writer slot when free now (release it when done), undefined while another writer has it. */
  tryWritingPartial(digest: string): (() => void) | undefined;
}

export interface ContentFetcherOptions {
  /** Parallel blob downloads across the whole fetcher (and, separately, parallel manifest GETs). */
  concurrency: number;
  /** The Accept list for manifest GETs: what the edge announced in the handshake. */
  acceptedMediaTypes: string[];
  /** Called with every chunk's size as blob bytes arrive (progress, tests). */
  onBytes?: (n: number) => void;
  /** Called when a blob download starts, with its size when known (the progress's byte total). */
  onDownloadPlanned?: (size: number | undefined) => void;
  log?: (message: string) => void;
  /** Delay before retry n (1-based); default 250 ms * 4^(n-1) (0.25, 1, 4, 16 s). */
  backoffMs?: (attempt: number) => number;
  /** The sync's bandwidth cap, shared with the upstream push (bandwidth.ts). */
  bandwidth?: BandwidthLimit;
  /** Downloads stop (keeping their partial files) when the sync window closes (sync-window.ts). */
  window?: SyncWindow;
  /** Room for a manifest's blobs, asked before any is fetched (store/disk-guard.ts); throws when there is none. */
  /**
   * Which children of an index are fetched (the connected registry's platform filter,
   * filters.ts); the others stay absent and the index is stored sparse. Default: all.
   */
  keepsChild?: (repository: string, child: ReferencedContent["manifests"][number]) => boolean;
  room?: { reserve(blobs: ReadonlyArray<{ digest: string; size?: number }>, what: string): Promise<{ release(): void }> };
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  content: Buffer;
}

export interface ImageTree {
  manifest: FetchedManifest;
  /** Platform manifests of an index (each with its own subtree); empty for an image manifest. */
  children: ImageTree[];
}

export interface ReferencedContent {
  blobs: Array<{ digest: string; size?: number }>;
  manifests: Array<{ digest: string; mediaType?: string; platform?: { os?: string; architecture?: string; variant?: string } }>;
}

/** Retries of a transient failure (each resuming from the partial size). */
const MAX_RETRIES = 4;

export class ContentFetcher {
  private readonly blobSlots: Semaphore;
  private readonly manifestSlots: Semaphore;
  /**
   * Blobs get their download slots in the order they were asked for (ensureBlob's call), not
   * in the order their asks get past the store's checks before the slot (stat, the partial's
   * writer lock), which finish in any order: an image's blobs, asked together, download
   * together, so images finish one after another and the next image's manifest is fetched
   * while the slots are busy. Served in the order the checks ended, every image's blobs were
   * spread over the whole sync: all the images finished at its end and left the slots idle while
   * the last ones were started (first sync of 10 images, 8 at once: the last two began after
   * all the others).
   */
  private nextBlobTicket = 0;
  /** Downloads under way, so two repositories (or two tree walks) asking for one digest share it. */
  private readonly inFlight = new Map<string, Promise<void>>();
  protected readonly accept: string;

  constructor(
    protected readonly client: RegistryHttpClient,
    private readonly blobs: PartialBlobStore,
    private readonly options: ContentFetcherOptions,
  ) {
    this.blobSlots = new Semaphore(options.concurrency);
    this.manifestSlots = new Semaphore(options.concurrency);
    this.accept = options.acceptedMediaTypes.join(", ");
  }

  /**
   * GET /v2/<repo>/manifests/<ref>. Undefined when the parent does not have it (404
   * MANIFEST_UNKNOWN / NAME_UNKNOWN). Verified: by digest against the reference when it is one,
   * otherwise against Docker-Content-Digest when the parent sent it.
   */
  async fetchManifest(repository: string, reference: string): Promise<FetchedManifest | undefined> {
    const what = `GET /v2/${repository}/manifests/${reference}`;
    return this.manifestSlots.run(() =>
      this.withRetries(what, async () => {
        const response = await this.client.request("GET", `/v2/${repository}/manifests/${reference}`, { headers: { Accept: this.accept } });
        if (response.status === 404) {
          const error = await RemoteError.fromResponse(response, what);
          if (error.code === "MANIFEST_UNKNOWN" || error.code === "NAME_UNKNOWN") return undefined;
          throw error;
        }
        if (response.status !== 200) throw await RemoteError.fromResponse(response, what);
        const content = await response.bytes(MAX_MANIFEST_BYTES);
        await this.options.bandwidth?.take(content.byteLength);

        const referenceDigest = parseDigest(reference);
        const announced = response.headers.get("docker-content-digest") ?? undefined;
        const expected = referenceDigest ? reference : announced && parseDigest(announced) ? announced : undefined;
        // Hash with the algorithm of the digest we check against (sha512 references exist).
        const digest = digestOf(content, expected ? parseDigest(expected)!.algorithm : "sha256");
        if (expected && digest !== expected) throw new DigestMismatchError(expected, digest);

        return { digest, mediaType: manifestMediaType(response, content), content };
      }),
    );
  }

  /**
   * Makes the blob present in the local store: nothing to do when it already is (content is
   * shared across repositories), otherwise downloads it (resuming a partial) and verifies it.
   */
  async ensureBlob(repository: string, digest: string, size?: number): Promise<void> {
    const ticket = this.nextBlobTicket++;
    if ((await this.blobs.stat(digest)) !== undefined) return;
    const running = this.inFlight.get(digest);
    if (running) return running;
    // Counted before waiting for a slot, so the progress's total covers queued downloads too.
    this.options.onDownloadPlanned?.(size);
    const download = this.downloadVerified(repository, digest, size, ticket).finally(() => this.inFlight.delete(digest));
    this.inFlight.set(digest, download);
    return download;
  }

  /**
   * The manifest, every manifest an index names (recursively) and every blob, all present when
   * this resolves. Undefined when the parent does not have the top manifest; a missing child is
   * an error (the index is not complete in the parent yet).
   */
  async fetchImageTree(repository: string, reference: string): Promise<ImageTree | undefined> {
    const manifest = await this.fetchManifest(repository, reference);
    return manifest ? this.completeTree(repository, manifest) : undefined;
  }

  /** Fetches what an already fetched manifest needs (the sync engine may hold the top one). */
  async completeTree(repository: string, manifest: FetchedManifest): Promise<ImageTree> {
    const needs = referencedContent(manifest.content, manifest.mediaType);
    const room = await this.options.room?.reserve(needs.blobs, `${repository}@${manifest.digest}`);
    try {
      return await this.completeNeeds(repository, manifest, needs);
    } finally {
      room?.release();
    }
  }

  private async completeNeeds(repository: string, manifest: FetchedManifest, needs: ReferencedContent): Promise<ImageTree> {
    const [children] = await Promise.all([
      Promise.all(
        needs.manifests.filter((child) => this.keepsChild(repository, child)).map(async (child) => {
          const fetched = await this.fetchManifest(repository, child.digest);
          if (!fetched) {
            throw new RemoteError(404, `${repository}@${manifest.digest} names manifest ${child.digest}, which the parent does not have`, "MANIFEST_UNKNOWN", { digest: child.digest });
          }
          return this.completeTree(repository, fetched);
        }),
      ),
      Promise.all(needs.blobs.map((blob) => this.ensureBlob(repository, blob.digest, blob.size))),
    ]);
    return { manifest, children };
  }

  /** Whether a child manifest of an index is fetched, or left absent by the platform filter. */
  keepsChild(repository: string, child: ReferencedContent["manifests"][number]): boolean {
    return this.options.keepsChild?.(repository, child) ?? true;
  }

  /**
   * Downloads until the store accepts the bytes; a wrong partial is discarded and fetched once
   * more from zero. Only the transfer holds a download slot: the store's completion (fsync,
   * rename) runs after the slot has gone to the next download, so the link stays busy while
   * the disk flushes.
   */
  private async downloadVerified(repository: string, digest: string, size: number | undefined, ticket: number): Promise<void> {
    // The only writer of this digest's partial file (another fetcher or a pull-through stream may
    // be filling it): one that finished first leaves the blob stored, and nothing is fetched again.
    await this.blobs.writingPartial(digest, async (waited) => {
      if (waited && (await this.blobs.stat(digest)) !== undefined) return;
      await this.downloadVerifiedAlone(repository, digest, size, ticket);
    });
  }

  private async downloadVerifiedAlone(repository: string, digest: string, size: number | undefined, ticket: number): Promise<void> {
    const what = `GET /v2/${repository}/blobs/${digest}`;
    for (let fromZeroAgain = false; ; fromZeroAgain = true) {
      const fetched = await this.blobSlots.run(async (waited) => {
        // Another download may have finished while this one waited for a slot (ensureBlob looked just before otherwise).
        if ((waited || fromZeroAgain) && (await this.blobs.stat(digest)) !== undefined) return false;
        await this.withRetries(what, () => this.downloadRest(repository, digest, size));
        return true;
      }, ticket);
      if (!fetched) return;
      try {
        await this.blobs.completePartial(digest);
        return;
      } catch (error) {
        if (!isDigestMismatch(error)) throw error;
        // The store removed the partial; make sure, then start over once.
        await this.blobs.discardPartial(digest);
        if (fromZeroAgain) throw error; // twice wrong from the parent: not something a retry fixes
        this.options.log?.(`${what}: downloaded bytes do not match the digest; fetching again from zero`);
      }
    }
  }

  /** One attempt: appends whatever the partial file still lacks. */
  private async downloadRest(repository: string, digest: string, size: number | undefined): Promise<void> {
    const what = `GET /v2/${repository}/blobs/${digest}`;
    this.options.window?.throwIfClosed();
    let offset = await this.blobs.partialSize(digest);
    if (size !== undefined && offset > size) {
      await this.blobs.discardPartial(digest);
      offset = 0;
    }
    // Fully downloaded before a crash, not yet completed: a Range request would only get a 416.
    if (size !== undefined && offset === size && size > 0) return;

    const response = await this.client.request("GET", `/v2/${repository}/blobs/${digest}`, {
      headers: offset > 0 ? { Range: `bytes=${offset}-` } : {},
      intoBuffers: true,
    });
    try {
      if (response.status === 206 && offset > 0) {
        const start = /^bytes (\d+)-/.exec(response.headers.get("content-range") ?? "")?.[1];
        if (Number(start) !== offset) {
          await this.blobs.discardPartial(digest);
          throw new RestartDownload(`${what}: asked for bytes from ${offset}, got Content-Range ${response.headers.get("content-range")}`);
        }
      } else if (response.status === 200) {
        // The server ignored the Range (or there was none): the body is the whole blob.
        if (offset > 0) {
          this.options.log?.(`${what}: the server ignored the Range; downloading from zero`);
          await this.blobs.discardPartial(digest);
        }
      } else if (response.status === 416 && offset > 0) {
        // The partial is as long as the blob or longer (its size was not known): start over.
        response.body.resume();
        await this.blobs.discardPartial(digest);
        throw new RestartDownload(`${what}: range from ${offset} not satisfiable; downloading from zero`);
      } else {
        throw await RemoteError.fromResponse(response, what);
      }
      // Under the cap, and cut when the window closes: what arrived so far stays in the partial file.
      const limits = { bandwidth: this.options.bandwidth, window: this.options.window, onPiece: this.options.onBytes };
      // Over plain HTTP the body is read straight into the store's buffers (no buffer per socket read).
      const readInto = response.readInto;
      await this.blobs.appendPartial(digest, readInto ? governedReader({ readInto }, limits) : governed(response.body, limits));
    } finally {
      response.body.destroy(); // no-op when fully read; frees the socket when something failed
    }
  }

  protected async withRetries<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    for (let retry = 1; ; retry++) {
      try {
        return await attempt();
      } catch (error) {
        if (error instanceof RestartDownload && retry <= MAX_RETRIES) {
          this.options.log?.(error.message);
          continue;
        }
        if (retry > MAX_RETRIES || !isTransientError(error)) throw error;
        const delay = this.options.backoffMs?.(retry) ?? 250 * 4 ** (retry - 1);
        this.options.log?.(`${what} failed (${(error as Error).message}); retry ${retry} of ${MAX_RETRIES} in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

/** Internal: the attempt must start over right away (not a transient failure, no backoff). */
class RestartDownload extends Error {}

/**
 * What a manifest needs: its blobs (config, distributable layers) and, for an index or manifest
 * list, its child manifests, with sizes and media types from the descriptors.
 */
export function referencedContent(content: Uint8Array, mediaType: string): ReferencedContent {
  const parsed = parseManifest(content, mediaType);
  // parseManifest validated the shape; read the descriptors again for their sizes and types.
  const json = JSON.parse(Buffer.from(content).toString("utf8")) as {
    config?: { digest: string; size: number };
    layers?: Array<{ digest: string; size: number; mediaType: string }>;
    manifests?: Array<{ digest: string; mediaType: string; platform?: { os?: string; architecture?: string; variant?: string } }>;
  };
  const sizes = new Map<string, number>();
  if (json.config) sizes.set(json.config.digest, json.config.size);
  for (const layer of json.layers ?? []) if (!isNonDistributableLayer(layer.mediaType)) sizes.set(layer.digest, layer.size);
  const types = new Map((json.manifests ?? []).map((m) => [m.digest, m.mediaType] as const));

  // One entry per digest: a layer repeated in a manifest (or equal to the config) is fetched once.
  const blobs = [...new Set(parsed.blobDigests)].map((digest) => withOptional({ digest }, "size", sizes.get(digest)));
  const platforms = new Map((json.manifests ?? []).map((m) => [m.digest, m.platform] as const));
  const manifests = [...new Set(parsed.manifestDigests)].map((digest) => withOptional(withOptional({ digest }, "mediaType", types.get(digest)), "platform", platforms.get(digest)));
  return { blobs, manifests };
}

/** A tree's manifests in the order they may be written: every child before its parent. */
export function manifestsBottomUp(tree: ImageTree): FetchedManifest[] {
  return [...tree.children.flatMap(manifestsBottomUp), tree.manifest];
}

function withOptional<T extends object, K extends string, V>(base: T, key: K, value: V | undefined): T & { [P in K]?: V } {
  return (value === undefined ? base : { ...base, [key]: value }) as T & { [P in K]?: V };
}

function digestOf(content: Uint8Array, algorithm: "sha256" | "sha512"): string {
  return `${algorithm}:${createHash(algorithm).update(content).digest("hex")}`;
}

/** The Content-Type the parent sent, else the body's own mediaType field. */
function manifestMediaType(response: RemoteResponse, content: Buffer): string {
  const header = bareMediaType(response.headers.get("content-type") ?? "");
  if (header && header !== "application/json" && header !== "application/octet-stream") return header;
  try {
    const declared = (JSON.parse(content.toString("utf8")) as { mediaType?: unknown }).mediaType;
    if (typeof declared === "string") return declared;
  } catch {
    // Not JSON: the caller's parse will say so.
  }
  return header;
}

/** The store's DigestMismatchError is its own class; recognise it (and ours) by name. */
function isDigestMismatch(error: unknown): boolean {
  return error instanceof Error && (error.name === "DigestMismatchError" || error.constructor.name === "DigestMismatchError");
}

/**
 * A counting semaphore: at most `limit` tasks run at once, the rest wait, lowest `order` first
 * (in the order they came when no order is given, or for equal ones).
 */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<{ order: number; resume: () => void }> = [];

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new Error(`concurrency must be at least 1, got ${limit}`);
  }

  /** `task` is told whether it had to wait for its slot. */
  async run<T>(task: (waited: boolean) => Promise<T>, order = Number.POSITIVE_INFINITY): Promise<T> {
    const waited = this.active >= this.limit;
    if (waited) {
      await new Promise<void>((resume) => {
        // Few waiters (a sync's queued blobs): a linear search for the place is enough.
        const at = this.waiting.findIndex((other) => other.order > order);
        this.waiting.splice(at === -1 ? this.waiting.length : at, 0, { order, resume });
      });
    } else this.active++;
    try {
      return await task(waited);
    } finally {
      const next = this.waiting.shift();
      if (next) next.resume(); // hand the slot over without releasing it
      else this.active--;
    }
  }
}
