/**
 * A blob from the parent to the client and into the store at once: each piece the parent sends
 * goes to the client and to the blob store's partial file; the store verifies the sha256 when
 * the last piece is in and only then makes the blob visible (and it is linked to the
 * repository). The client gets the parent's bytes as they come; a client that goes away is
 * dropped and the download goes on to its verified end; a download that fails ends the
 * client's response early (it sees a short body and retries) and leaves an invisible partial
 * file that the next miss or sync resumes with a Range request.
 *
 * The stream is the digest's only writer from its GET to the blob's completion (the store's
 * writer slot, shared with the sync's and the pull-through's fetchers): when another writer
 * has the digest, or bytes of it or the blob itself are already here, nothing is streamed and
 * the caller takes the fetcher's path, which waits for that writer and finds the blob stored.
 */
import { PassThrough } from "node:stream";
import type { HandlerResponse } from "../../../shared/http/types.js";
import type { MetadataStore } from "../../../shared/store/interfaces.js";
import { RemoteError, type RegistryHttpClient, type RemoteResponse } from "../../../shared/remote/http-client.js";
import type { BandwidthLimit } from "../sync/bandwidth.js";
import type { PartialBlobStore } from "../sync/content-fetcher.js";
import { governed } from "../sync/governed-stream.js";
import { ParentTimeoutError } from "./fetcher.js";

export interface BlobStreamDeps {
  client: RegistryHttpClient;
  blobs: PartialBlobStore;
  metadata: MetadataStore;
  bandwidth?: BandwidthLimit;
  onBytes?: (n: number) => void;
  /** Headers from the parent within this, or the parent counts as unreachable. */
  offlineMs: number;
  room?: { reserve(blobs: ReadonlyArray<{ digest: string; size?: number }>, what: string): Promise<{ release(): void }> };
}

/** A slow client holds the download back at most this long per piece before it is dropped. */
const CLIENT_STALL_MS = 30_000;

export interface LiveBlob {
  response: HandlerResponse;
  /** Settles when the blob is stored and linked (true) or the download failed (rejects). */
  stored: Promise<boolean>;
}

/**
 * Undefined when the parent does not have the blob in this repository; "resume" when another
 * writer has the digest or some of it is here (the fetcher's path then waits, resumes or links).
 */
export async function streamBlob(deps: BlobStreamDeps, repository: string, digest: string, clientGone?: AbortSignal): Promise<LiveBlob | "resume" | undefined> {
  const writer = deps.blobs.tryWritingPartial(digest);
  if (!writer) return "resume";
  let answer: RemoteResponse;
  let size: number | undefined;
  let room: { release(): void } | undefined;
  try {
    // Looked at as the writer: a download that just ended may have stored it or left a partial.
    if ((await deps.blobs.stat(digest)) !== undefined || (await deps.blobs.partialSize(digest)) > 0) {
      writer();
      return "resume";
    }
    const what = `GET /v2/${repository}/blobs/${digest}`;
    answer = await withDeadline(deps.client.request("GET", `/v2/${repository}/blobs/${digest}`), deps.offlineMs, what);
    if (answer.status === 404) {
      answer.body.resume();
      writer();
      return undefined;
    }
    if (answer.status !== 200) throw await RemoteError.fromResponse(answer, what);
    const length = answer.headers.get("content-length");
    size = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
  } catch (error) {
    writer();
    throw error;
  }
  try {
    room = await deps.room?.reserve([{ digest, ...(size !== undefined ? { size } : {}) }], `${repository}@${digest}`);
  } catch (error) {
    answer.body.destroy();
    writer();
    throw error;
  }

  const toClient = new PassThrough();
  // The client went away (even before the answer's headers): the download goes on without it.
  if (clientGone?.aborted) toClient.destroy();
  else clientGone?.addEventListener("abort", () => toClient.destroy(), { once: true });
  // The writer slot is held until the blob is stored or its partial discarded.
  const stored = store(deps, answer, toClient, repository, digest).finally(() => {
    writer();
    room?.release();
  });
  // Nobody may be waiting (the client went away): the failure is logged by whoever awaits `stored`.
  stored.catch(() => {});
  return {
    response: {
      status: 200,
      headers: {
        "Content-Type": "application/octet-stream",
        "Docker-Content-Digest": digest,
        ETag: `"${digest}"`,
        ...(size !== undefined ? { "Content-Length": String(size) } : {}),
      },
      body: toClient,
    },
    stored,
  };
}

async function store(deps: BlobStreamDeps, answer: RemoteResponse, toClient: PassThrough, repository: string, digest: string): Promise<boolean> {
  try {
    await deps.blobs.appendPartial(digest, tee(governed(answer.body, { bandwidth: deps.bandwidth }), toClient, deps.onBytes));
    await deps.blobs.completePartial(digest);
  } catch (error) {
    toClient.destroy(error as Error);
    await deps.blobs.discardPartial(digest).catch(() => {});
    throw error;
  } finally {
    answer.body.destroy();
  }
  const size = await deps.blobs.stat(digest);
  if (size === undefined) throw new Error(`blob ${digest} is not in the store after its download`);
  await deps.metadata.putBlobLink(repository, { digest, size });
  // Only now, verified and linked: the client's last byte and the blob's visibility agree.
  toClient.end();
  return true;
}

/** Every piece to the store (the generator's consumer) and to the client while it listens. */
async function* tee(body: AsyncIterable<Uint8Array>, toClient: PassThrough, onBytes?: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const piece of body) {
    onBytes?.(piece.byteLength);
    if (!toClient.destroyed && !toClient.write(piece)) await drained(toClient);
    yield piece;
  }
}

/** Waits until the client reads on, goes away, or stalls too long (then it is dropped). */
function drained(toClient: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      toClient.off("drain", done).off("close", done);
      resolve();
    };
    const timer = setTimeout(() => {
      toClient.destroy(new Error("the client stopped reading"));
      done();
    }, CLIENT_STALL_MS);
    toClient.once("drain", done).once("close", done);
  });
}

function withDeadline<T extends { body: { destroy(): void } }>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new ParentTimeoutError(`${what}: no answer from the parent within ${ms} ms`));
    }, ms);
  });
  // An answer that comes after the deadline is dropped, so its socket is freed.
  promise.then((late) => void (timedOut && late.body.destroy()), () => {});
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
