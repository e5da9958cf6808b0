/**
 * One blob up to the parent in chunks: POST opens an upload session, each chunk is a PATCH
 * with `Content-Range: <start>-<end>`, PUT `?digest=` commits. A front end that cuts every
 * request after a time limit (Azure's 230 s) then never cuts more than one chunk, and after a
 * cut (reset, 5xx, timeout) the upload resumes from what the parent says it has (`GET` on the
 * upload URL answers `Range: 0-<last>`) instead of starting over.
 *
 * The upload URL of a blob in progress is kept in memory, so the next try in this run (the
 * next cycle) resumes it; a session the parent forgot (404) is started anew.
 */
import type { RegistryContext } from "../../../shared/registry/context.js";
import { RemoteError, isTransientError, type RegistryHttpClient } from "../../../shared/remote/http-client.js";
import { governed, type SyncLimits } from "./governed-stream.js";
import { windowClosedIn } from "./sync-window.js";

export const DEFAULT_UPSTREAM_CHUNK_BYTES = 8 * 1024 * 1024;
/** A breath between a cut and the resume, so a flapping link is not hammered. */
const RESUME_PAUSE_MS = 200;

export interface ChunkedUploadOptions {
  chunkBytes: number;
  limits: SyncLimits;
  /** Called with the byte count each time the parent accepted a chunk: the push is moving. */
  onAccepted?: (bytes: number) => void;
}

export class ChunkedUploader {
  /** "<repository>@<digest>" -> the upload URL the parent gave and the bytes it confirmed, while that blob is in progress. */
  private readonly sessions = new Map<string, { location: string; confirmed: number }>();

  constructor(
    private readonly registry: RegistryContext,
    private readonly client: RegistryHttpClient,
    private readonly options: ChunkedUploadOptions,
  ) {}

  /**
   * Uploads the blob. A cut after at least one chunk went through since the last cut is
   * resumed at once from the parent's status; a cut that moved nothing fails this try (the
   * caller backs off, and a blob that never moves is eventually parked).
   */
  async upload(repository: string, digest: string, size: number): Promise<void> {
    for (;;) {
      let moved = false;
      try {
        await this.attempt(repository, digest, size, () => (moved = true));
        return;
      } catch (error) {
        if (!moved || windowClosedIn(error) || !isTransientError(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, RESUME_PAUSE_MS));
      }
    }
  }

  private async attempt(repository: string, digest: string, size: number, onMoved: () => void): Promise<void> {
    const key = `${repository}@${digest}`;
    const known = this.sessions.get(key);
    const resumed = known ? await this.statusOf(known.location, known.confirmed) : undefined;
    let location = resumed !== undefined ? known!.location : await this.start(repository);
    let offset: number = resumed ?? 0;
    this.sessions.set(key, { location, confirmed: offset });
    let refusedAt: number | undefined;
    while (offset < size) {
      const end: number = Math.min(offset + this.options.chunkBytes, size) - 1;
      const what = `PATCH /v2/${repository}/blobs/uploads/ (${digest} bytes ${offset}-${end})`;
      const response = await this.client.request("PATCH", location, {
        headers: { "Content-Type": "application/octet-stream", "Content-Range": `${offset}-${end}`, "Content-Length": String(end - offset + 1) },
        // Read from disk only as fast as the cap lets it go; cut when the window closes.
        body: this.chunkBody(digest, offset, end),
      });
      if (response.status === 202) {
        location = response.headers.get("location") ?? location;
        const next: number = nextOffset(response.headers.get("range"), end + 1) ?? end + 1;
        this.sessions.set(key, { location: location, confirmed: next });
        response.body.resume();
        if (next > offset) {
          onMoved();
          this.options.onAccepted?.(next - offset);
        }
        offset = next;
      } else if (response.status === 416) {
        // Out of order (an earlier chunk did land though its answer was cut): ask where it stands.
        response.body.resume();
        if (refusedAt === offset) throw new RemoteError(416, `${what}: refused twice at the offset the parent gave`);
        refusedAt = offset;
        const current = await this.statusOf(location, offset);
        if (current === undefined) {
          this.sessions.delete(key);
          throw new RemoteError(404, `${what}: the upload session is gone`);
        }
        offset = current;
      } else {
        if (response.status === 404) this.sessions.delete(key);
        throw await RemoteError.fromResponse(response, what);
      }
    }
    const separator = location.includes("?") ? "&" : "?";
    const done = await this.client.request("PUT", `${location}${separator}digest=${digest}`, { headers: { "Content-Length": "0" } });
    if (done.status === 404) this.sessions.delete(key);
    if (done.status !== 201) throw await RemoteError.fromResponse(done, `PUT /v2/${repository}/blobs/uploads/ (${digest})`);
    done.body.resume();
    this.sessions.delete(key);
  }

  /** Opened when the request starts reading, so a request that fails before never leaves the file open. */
  private async *chunkBody(digest: string, start: number, end: number): AsyncGenerator<Uint8Array> {
    yield* governed(await this.registry.blobs.read(digest, { start, end }), this.options.limits);
  }

  private async start(repository: string): Promise<string> {
    const response = await this.client.request("POST", `/v2/${repository}/blobs/uploads/`, { headers: { "Content-Length": "0" } });
    const location = response.headers.get("location");
    if (response.status !== 202 || !location) throw await RemoteError.fromResponse(response, `POST /v2/${repository}/blobs/uploads/`);
    response.body.resume();
    return location;
  }

  /** The offset the parent's session stands at, or undefined when it no longer knows it (404). */
  private async statusOf(location: string, confirmed: number): Promise<number | undefined> {
    const response = await this.client.request("GET", location);
    if (response.status === 404) {
      response.body.resume();
      return undefined;
    }
    if (response.status !== 204 && response.status !== 200) throw await RemoteError.fromResponse(response, "GET upload status");
    response.body.resume();
    return nextOffset(response.headers.get("range"), confirmed) ?? 0;
  }
}

/**
 * "0-<last>" -> last + 1. Registries answer "0-0" both before the first byte and after it
 * (the spec's range cannot say "empty"), so "0-0" means 0 unless more than that was confirmed.
 */
function nextOffset(range: string | null, confirmed: number): number | undefined {
  const match = range ? /(\d+)-(\d+)/.exec(range) : null;
  if (!match) return undefined;
  const last = Number(match[2]);
  return last === 0 && confirmed === 0 ? 0 : last + 1;
}
