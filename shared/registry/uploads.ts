/**
 * Blob uploads: POST (start, monolithic with ?digest=, or cross-repository mount),
 * PATCH (append a chunk), PUT (finish, optionally with a last chunk), GET (status),
 * DELETE (cancel). Bytes are staged invisibly and only reach their content address
 * once their digest has been verified; the repository's link is written last.
 */
import { createHash, randomUUID } from "node:crypto";
import type { Principal } from "../auth/authorizer.js";
import type { DigestAlgorithm } from "../domain/digest.js";
import type { HandlerRequest, HandlerResponse } from "../http/types.js";
import { ConcurrentUpdateError, type UploadSession } from "../store/interfaces.js";
import { digestOf, emptyStream, hashing } from "./byte-streams.js";
import type { RegistryContext } from "./context.js";
import { RegistryError } from "../domain/registry-errors.js";
import { emptyResponse, uploadRange } from "./respond.js";
import { requireDigest, requireRepositoryName } from "./validate.js";

const uploadIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function startUpload(ctx: RegistryContext, request: HandlerRequest, name: string, principal: Principal): Promise<HandlerResponse> {
  const params = request.url.searchParams;
  const mount = params.get("mount");
  if (mount !== null) {
    const mounted = await tryMount(ctx, name, requireDigest(mount).value, params.get("from"), principal);
    if (mounted) return mounted;
    // The spec's fallback when a mount cannot be done: an ordinary upload session.
  }
  const digest = params.get("digest");
  if (digest !== null) {
    const expected = requireDigest(digest);
    await storeVerified(ctx, name, expected.value, expected.algorithm, request.body ?? emptyStream);
    return blobCreated(name, expected.value);
  }
  const session = await ctx.metadata.createUpload({
    repository: name,
    id: randomUUID(),
    offset: 0,
    blockIds: [],
    startedAt: new Date().toISOString(),
  });
  ctx.runningHashes.put(session.id, 0, createHash("sha256"));
  return emptyResponse(202, uploadHeaders(session));
}

async function tryMount(ctx: RegistryContext, name: string, digest: string, from: string | null, principal: Principal): Promise<HandlerResponse | undefined> {
  if (from === null) return undefined;
  requireRepositoryName(from);
  // The authorizer was asked for pull on `from` as an optional access (v2-handler.ts).
  const mayPullSource = principal.optionalGranted.some((entry) => entry.type === "repository" && entry.name === from && entry.actions.includes("pull"));
  if (!mayPullSource) return undefined;
  const link = await ctx.metadata.getBlobLink(from, digest);
  // Refreshing the source link claims the blob against a garbage collector deleting it right
  // now; content lost under a link is not mounted (the client uploads it instead).
  if (!link || !(await ctx.metadata.refreshBlobLink(from, digest)) || !(await ctx.contentPresence.has(digest))) return undefined;
  await ctx.metadata.ensureRepository(name);
  await ctx.metadata.putBlobLink(name, link);
  return blobCreated(name, digest);
}

export async function patchUpload(ctx: RegistryContext, request: HandlerRequest, name: string, id: string): Promise<HandlerResponse> {
  const session = await requireSession(ctx, name, id);
  const expectedBytes = checkContentRange(request, session);
  const updated = await appendChunk(ctx, session, request.body ?? emptyStream, expectedBytes);
  return emptyResponse(202, uploadHeaders(updated));
}

export async function finishUpload(ctx: RegistryContext, request: HandlerRequest, name: string, id: string): Promise<HandlerResponse> {
  const expected = requireDigest(request.url.searchParams.get("digest"));
  const session = await requireSession(ctx, name, id);

  if (session.offset === 0 && session.blockIds.length === 0) {
    // Nothing staged yet: the whole blob is in this request, so it goes straight to its
    // content address, verified on the way, with no copy afterwards.
    ctx.runningHashes.forget(id);
    await storeVerified(ctx, name, expected.value, expected.algorithm, request.body ?? emptyStream);
    await ctx.metadata.deleteUpload(name, id);
    return blobCreated(name, expected.value);
  }

  const expectedBytes = checkContentRange(request, session);
  const current = await appendChunk(ctx, session, request.body ?? emptyStream, expectedBytes);
  await ctx.blobs.commit({ kind: "upload", id }, current.blockIds);
  const hash = ctx.runningHashes.take(id, current.offset);
  const actual =
    hash && expected.algorithm === "sha256"
      ? `sha256:${hash.digest("hex")}`
      : await digestOf(await ctx.blobs.readUpload(id), expected.algorithm);
  if (actual !== expected.value) {
    await discardSession(ctx, current);
    throw new RegistryError("DIGEST_INVALID", `the uploaded content's digest is ${actual}, not ${expected.value}; the upload was discarded`, {
      detail: { expected: expected.value, actual },
    });
  }
  await ctx.blobs.promoteUpload(id, expected.value);
  ctx.contentPresence.saw(expected.value);
  await ctx.metadata.ensureRepository(name);
  await ctx.metadata.putBlobLink(name, { digest: expected.value, size: current.offset });
  await ctx.metadata.deleteUpload(name, id);
  return blobCreated(name, expected.value);
}

export async function getUploadStatus(ctx: RegistryContext, name: string, id: string): Promise<HandlerResponse> {
  const session = await requireSession(ctx, name, id);
  return emptyResponse(204, uploadHeaders(session));
}

export async function cancelUpload(ctx: RegistryContext, name: string, id: string): Promise<HandlerResponse> {
  const session = await requireSession(ctx, name, id);
  await discardSession(ctx, session);
  return emptyResponse(204);
}

/**
 * Streams a blob whose digest is known up front, verifying it before it becomes visible.
 * Content already stored is written again rather than trusted: the garbage collector may be
 * deleting that very blob, and it deletes content only if unchanged since it looked.
 */
async function storeVerified(ctx: RegistryContext, name: string, digest: string, algorithm: DigestAlgorithm, body: AsyncIterable<Uint8Array>): Promise<void> {
  const hash = createHash(algorithm);
  const counter = { bytes: 0 };
  const { blockIds } = await ctx.blobs.stage({ kind: "content", digest }, hashing(body, hash, counter));
  const actual = `${algorithm}:${hash.digest("hex")}`;
  if (actual !== digest) {
    // The staged blocks were never committed; storage drops them on its own.
    throw new RegistryError("DIGEST_INVALID", `the uploaded content's digest is ${actual}, not ${digest}`, {
      detail: { expected: digest, actual },
    });
  }
  await ctx.blobs.commit({ kind: "content", digest }, blockIds);
  ctx.contentPresence.saw(digest);
  await ctx.metadata.ensureRepository(name);
  await ctx.metadata.putBlobLink(name, { digest, size: counter.bytes });
}

async function appendChunk(ctx: RegistryContext, session: UploadSession, body: AsyncIterable<Uint8Array>, expectedBytes: number | undefined): Promise<UploadSession> {
  const hash = ctx.runningHashes.take(session.id, session.offset);
  const counter = { bytes: 0 };
  const staged = await ctx.blobs.stage({ kind: "upload", id: session.id }, hashing(body, hash, counter));
  if (expectedBytes !== undefined && staged.bytes !== expectedBytes) {
    throw new RegistryError("BLOB_UPLOAD_INVALID", `Content-Range announced ${expectedBytes} bytes but the body had ${staged.bytes}`, {
      headers: uploadHeaders(session),
    });
  }
  if (staged.bytes === 0) {
    if (hash) ctx.runningHashes.put(session.id, session.offset, hash);
    return session;
  }
  let updated: UploadSession;
  try {
    updated = await ctx.metadata.updateUpload({
      ...session,
      offset: session.offset + staged.bytes,
      blockIds: [...session.blockIds, ...staged.blockIds],
    });
  } catch (error) {
    if (error instanceof ConcurrentUpdateError) {
      throw new RegistryError("BLOB_UPLOAD_INVALID", "another chunk of this upload was written at the same time; GET the upload for its offset and resend", {
        status: 416,
      });
    }
    throw error;
  }
  if (hash) ctx.runningHashes.put(session.id, updated.offset, hash);
  return updated;
}

/**
 * A chunk's Content-Range ("<start>-<end>", inclusive) must start where the upload
 * stands; a chunk out of order gets 416 with the current Range. Returns the byte count
 * the range announces, or undefined when the client streamed without one.
 */
function checkContentRange(request: HandlerRequest, session: UploadSession): number | undefined {
  const header = request.headers.get("content-range");
  if (!header) return undefined;
  const match = /^(?:bytes )?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) {
    throw new RegistryError("BLOB_UPLOAD_INVALID", `malformed Content-Range "${header}": expected <start>-<end>`, {
      status: 416,
      headers: uploadHeaders(session),
    });
  }
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (start !== session.offset || end < start) {
    throw new RegistryError(
      "BLOB_UPLOAD_INVALID",
      `chunk ${start}-${end} is out of order: the upload has ${session.offset} bytes, so the next chunk starts at ${session.offset}`,
      { status: 416, headers: uploadHeaders(session) },
    );
  }
  const length = request.headers.get("content-length");
  if (length !== null && Number(length) !== end - start + 1) {
    throw new RegistryError("BLOB_UPLOAD_INVALID", `Content-Range ${header} is ${end - start + 1} bytes but Content-Length is ${length}`, {
      status: 416,
      headers: uploadHeaders(session),
    });
  }
  return end - start + 1;
}

async function requireSession(ctx: RegistryContext, name: string, id: string): Promise<UploadSession> {
  const session = uploadIdPattern.test(id) ? await ctx.metadata.getUpload(name, id) : undefined;
  if (!session) {
    throw new RegistryError("BLOB_UPLOAD_UNKNOWN", `upload ${id} is not in progress in repository ${name}; start one with POST /v2/${name}/blobs/uploads/`, {
      detail: { uuid: id },
    });
  }
  return session;
}

async function discardSession(ctx: RegistryContext, session: UploadSession): Promise<void> {
  ctx.runningHashes.forget(session.id);
  await ctx.blobs.discardUpload(session.id);
  await ctx.metadata.deleteUpload(session.repository, session.id);
}

function uploadHeaders(session: UploadSession): Record<string, string> {
  return {
    Location: `/v2/${session.repository}/blobs/uploads/${session.id}`,
    Range: uploadRange(session.offset),
    "Docker-Upload-UUID": session.id,
  };
}

function blobCreated(name: string, digest: string): HandlerResponse {
  return emptyResponse(201, { Location: `/v2/${name}/blobs/${digest}`, "Docker-Content-Digest": digest });
}
