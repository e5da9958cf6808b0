/**
 * Blob push and pull as docker and podman do them. Push: POST an upload, one PATCH that
 * streams the whole body chunked (no Content-Range), PUT ?digest=. Pull: GET the blob,
 * following a redirect to storage, counting the bytes and checking their sha256.
 */
import { createHash } from "node:crypto";
import type { Agent, OutgoingHttpHeaders } from "node:http";
import { call, download, expectStatus, header } from "./http.js";

const TIMEOUT_MS = 60_000;
/** Size of the writes that make up the streamed PATCH body. */
const WRITE_BYTES = 256 * 1024;

export interface PushTiming {
  seconds: number;
  postMs: number;
  patchMs: number;
  putMs: number;
}

export interface PullTiming {
  seconds: number;
  /** Time until the head of the response that carried the bytes (after any redirect). */
  headMs: number;
  redirectedTo: string[];
}

export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function* slices(data: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, Math.min(offset + size, data.length));
}

const ms = (from: bigint, to: bigint): number => Number(to - from) / 1e6;

/** `headers`: e.g. Authorization, sent with every request of the upload. */
export async function pushBlobStreamed(base: URL, repository: string, data: Buffer, digest: string, agent: Agent, headers: OutgoingHttpHeaders = {}): Promise<PushTiming> {
  const t0 = process.hrtime.bigint();
  const started = await call(new URL(`/v2/${repository}/blobs/uploads/`, base), { method: "POST", agent, timeoutMs: TIMEOUT_MS, headers, body: Buffer.alloc(0) });
  expectStatus(started, 202, "POST blob upload");
  const t1 = process.hrtime.bigint();
  const patched = await call(new URL(header(started, "location"), base), {
    method: "PATCH",
    agent,
    timeoutMs: TIMEOUT_MS,
    headers: { ...headers, "content-type": "application/octet-stream" },
    body: slices(data, WRITE_BYTES),
  });
  expectStatus(patched, 202, "PATCH blob upload");
  const t2 = process.hrtime.bigint();
  const finishUrl = new URL(header(patched, "location"), base);
  finishUrl.searchParams.set("digest", digest);
  const finished = await call(finishUrl, { method: "PUT", agent, timeoutMs: TIMEOUT_MS, headers, body: Buffer.alloc(0) });
  expectStatus(finished, 201, "PUT blob upload");
  const t3 = process.hrtime.bigint();
  if (header(finished, "docker-content-digest") !== digest) {
    throw new Error(`PUT blob upload answered digest ${header(finished, "docker-content-digest")}, expected ${digest}`);
  }
  return { seconds: ms(t0, t3) / 1000, postMs: ms(t0, t1), patchMs: ms(t1, t2), putMs: ms(t2, t3) };
}

/** Monolithic push (POST, then PUT ?digest= with the body): for the small blobs of an image; `headers` e.g. Authorization. */
export async function pushBlobMonolithic(base: URL, repository: string, data: Buffer, agent: Agent, headers: OutgoingHttpHeaders = {}): Promise<string> {
  const digest = sha256Digest(data);
  const started = await call(new URL(`/v2/${repository}/blobs/uploads/`, base), { method: "POST", agent, timeoutMs: TIMEOUT_MS, headers, body: Buffer.alloc(0) });
  expectStatus(started, 202, "POST blob upload");
  const url = new URL(header(started, "location"), base);
  url.searchParams.set("digest", digest);
  const finished = await call(url, { method: "PUT", agent, timeoutMs: TIMEOUT_MS, headers: { ...headers, "content-type": "application/octet-stream" }, body: data });
  expectStatus(finished, 201, "PUT blob (monolithic)");
  return digest;
}

/** `headers` (e.g. Authorization) go to the registry only, not to a storage URL it redirects to. */
export async function pullBlob(base: URL, repository: string, digest: string, size: number, agent: Agent, headers?: OutgoingHttpHeaders): Promise<PullTiming> {
  const hash = createHash("sha256");
  const t0 = process.hrtime.bigint();
  const result = await download(new URL(`/v2/${repository}/blobs/${digest}`, base), {
    agent,
    timeoutMs: TIMEOUT_MS,
    onData: (chunk) => hash.update(chunk),
    ...(headers ? { headers } : {}),
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (result.bytes !== size) throw new Error(`pull of ${digest} returned ${result.bytes} bytes, expected ${size}`);
  const actual = `sha256:${hash.digest("hex")}`;
  if (actual !== digest) throw new Error(`pull of ${digest} returned content with digest ${actual}`);
  return { seconds, headMs: result.headSeconds * 1000, redirectedTo: result.redirects };
}
