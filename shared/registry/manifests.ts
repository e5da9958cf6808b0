/** GET, HEAD, PUT and DELETE of /v2/<name>/manifests/<reference>. */
import { createHash } from "node:crypto";
import { MAX_MANIFEST_BYTES, ManifestParseError, parseManifest, type ParsedManifest } from "../domain/manifest.js";
import { acceptsMediaType } from "../domain/media-types.js";
import type { Principal } from "../auth/authorizer.js";
import type { HandlerRequest, HandlerResponse } from "../http/types.js";
import type { BlobLink, ManifestRecord } from "../store/interfaces.js";
import { DEFAULT_LINK_REFRESH_MS } from "./context.js";
import { BodyTooLargeError, readBody } from "../http/body.js";
import type { RegistryContext } from "./context.js";
import { RegistryError } from "../domain/registry-errors.js";
import { deleteReferrersOf } from "./referrer-cascade.js";
import { emptyResponse } from "./respond.js";
import { lookupReference, requireReference } from "./validate.js";
import { deleteEvent, pushEvent } from "../events/registry-events.js";

/** Manifests up to this size stay inline in the metadata store; larger ones go to the blob store. */
const INLINE_MANIFEST_BYTES = 1024 * 1024;

export async function getManifest(ctx: RegistryContext, request: HandlerRequest, name: string, reference: string): Promise<HandlerResponse> {
  const manifest = await resolveManifest(ctx, name, reference);
  const accept = request.headers.get("accept");
  if (!acceptsMediaType(accept ? [accept] : [], manifest.mediaType)) {
    throw new RegistryError(
      "MANIFEST_UNKNOWN",
      `manifest ${manifest.digest} is ${manifest.mediaType}, which the request's Accept header does not list`,
      { detail: { mediaType: manifest.mediaType } },
    );
  }
  const headers = {
    "Content-Type": manifest.mediaType,
    "Content-Length": String(manifest.size),
    "Docker-Content-Digest": manifest.digest,
    ETag: `"${manifest.digest}"`,
  };
  if (request.method === "HEAD") return { status: 200, headers };
  const content = manifest.content ?? (await readStoredContent(ctx, manifest.digest, manifest.size));
  return { status: 200, headers, body: content };
}

async function resolveManifest(ctx: RegistryContext, name: string, reference: string): Promise<ManifestRecord> {
  const parsed = lookupReference(reference);
  const manifest = !parsed
    ? undefined
    : "tag" in parsed
      ? await ctx.metadata.getTaggedManifest(name, parsed.tag)
      : await ctx.metadata.getManifest(name, parsed.digest);
  if (!manifest) {
    const reason = await ctx.explainMissingManifest?.(name, reference);
    throw reason ? new RegistryError("MANIFEST_UNKNOWN", reason, { detail: { name, reference, filtered: true } }) : manifestUnknown(name, reference);
  }
  return manifest;
}

function manifestUnknown(name: string, reference: string): RegistryError {
  return new RegistryError("MANIFEST_UNKNOWN", `manifest ${reference} is not in repository ${name}`, { detail: { name, reference } });
}

async function readStoredContent(ctx: RegistryContext, digest: string, size: number): Promise<Uint8Array> {
  return readBody(await ctx.blobs.read(digest), size);
}

export async function putManifest(ctx: RegistryContext, request: HandlerRequest, name: string, reference: string, principal: Principal): Promise<HandlerResponse> {
  const target = requireReference(reference);
  const declaredLength = Number(request.headers.get("content-length") ?? "0");
  if (declaredLength > MAX_MANIFEST_BYTES) throw manifestTooLarge();
  let content: Uint8Array;
  try {
    content = await readBody(request.body, MAX_MANIFEST_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw manifestTooLarge();
    throw error;
  }
  const digest = `sha256:${createHash("sha256").update(content).digest("hex")}`;
  if ("digest" in target && target.digest !== digest && !(await matchesOtherAlgorithm(target.digest, content))) {
    throw new RegistryError("DIGEST_INVALID", `the manifest's digest is ${digest}, not ${target.digest} as the URL says`, {
      detail: { expected: target.digest, actual: digest },
    });
  }
  const storedDigest = "digest" in target ? target.digest : digest;
  const { parsed, record } = await storeManifest(ctx, name, content, request.headers.get("content-type") ?? undefined, storedDigest, target, await originOf(ctx, principal));
  // Queued (durably) before the client hears 201, so a crash after it cannot lose the event.
  await ctx.events?.emit(pushEvent(name, record, "tag" in target ? target.tag : undefined, request));

  return emptyResponse(201, {
    Location: `/v2/${name}/manifests/${storedDigest}`,
    "Docker-Content-Digest": storedDigest,
    ...(parsed.subject ? { "OCI-Subject": parsed.subject.digest } : {}),
  });
}

/**
 * Validates and stores a manifest whose bytes are already read and whose digest is known,
 * and points the tag at it: the one write path for client pushes and for what an edge
 * agent's sync brings from its parent, so both build the same records and log the same
 * changes. Every blob and child manifest it references must already be in the repository.
 */
export async function storeManifest(
  ctx: RegistryContext,
  name: string,
  content: Uint8Array,
  contentType: string | undefined,
  digest: string,
  target: { tag: string } | { digest: string },
  origin: { source?: string } = {},
  /**
   * Child manifests of an index allowed to be absent: an edge's sync stores an index whose
   * filtered-out platforms it does not fetch (a sparse index). Client pushes never pass it.
   */
  sparse: { absentChildren?: ReadonlySet<string> } = {},
): Promise<{ record: ManifestRecord; parsed: ParsedManifest }> {
  let parsed: ParsedManifest;
  try {
    parsed = parseManifest(content, contentType);
  } catch (error) {
    if (error instanceof ManifestParseError) throw new RegistryError("MANIFEST_INVALID", error.message);
    throw error;
  }
  const named = [digest, ...parsed.blobDigests, ...parsed.manifestDigests];
  const write = () => writeManifestRecords(ctx, name, content, digest, parsed, target, origin, sparse.absentChildren);
  // From the check to the tag, so a collection in between cannot delete what the check found.
  const record = ctx.holdReferences ? await ctx.holdReferences(named, write) : await write();
  return { record, parsed };
}

/** Checks that everything the manifest names is here, then writes the manifest and its tag. */
async function writeManifestRecords(
  ctx: RegistryContext,
  name: string,
  content: Uint8Array,
  digest: string,
  parsed: ParsedManifest,
  target: { tag: string } | { digest: string },
  origin: { source?: string },
  absentChildren: ReadonlySet<string> | undefined,
): Promise<ManifestRecord> {
  await requireReferencedContent(ctx, name, parsed, absentChildren);

  const record: ManifestRecord = {
    repository: name,
    digest,
    mediaType: parsed.mediaType,
    size: content.byteLength,
    blobDigests: parsed.blobDigests,
    manifestDigests: parsed.manifestDigests,
    createdAt: new Date().toISOString(),
    ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
    ...(parsed.subject ? { subjectDigest: parsed.subject.digest } : {}),
    ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
  };
  if (content.byteLength <= INLINE_MANIFEST_BYTES) record.content = content;
  else await ctx.blobs.writeContent(digest, content);

  // Order keeps a crash safe: the manifest exists before any tag can point at it, and the
  // change log's entry is written ahead of both (see change-log.ts).
  await ctx.metadata.ensureRepository(name);
  const change = { repository: name, digest, mediaType: parsed.mediaType, ...origin };
  await ctx.changes.record("tag" in target ? { ...change, kind: "tag.set", tag: target.tag } : { ...change, kind: "manifest.put" }, async () => {
    await ctx.metadata.putManifest(record);
    if ("tag" in target) await ctx.metadata.putTag(name, target.tag, record);
  });
  return record;
}

async function matchesOtherAlgorithm(expected: string, content: Uint8Array): Promise<boolean> {
  if (!expected.startsWith("sha512:")) return false;
  return `sha512:${createHash("sha512").update(content).digest("hex")}` === expected;
}

function manifestTooLarge(): RegistryError {
  return new RegistryError("MANIFEST_INVALID", `manifest exceeds the ${MAX_MANIFEST_BYTES}-byte limit`, {
    status: 413,
    detail: { limit: MAX_MANIFEST_BYTES },
  });
}

/** Every blob and child manifest must already be in this repository (point reads, in parallel). */
async function requireReferencedContent(ctx: RegistryContext, name: string, parsed: ParsedManifest, absentChildren?: ReadonlySet<string>): Promise<void> {
  const [blobLinks, manifests] = await Promise.all([
    Promise.all(parsed.blobDigests.map((digest) => ctx.metadata.getBlobLink(name, digest))),
    Promise.all(parsed.manifestDigests.map((digest) => ctx.metadata.getManifest(name, digest))),
  ]);
  // A link not used for a while is refreshed; one the collector just removed counts as missing.
  const refreshed = await refreshStaleLinks(ctx, name, blobLinks);
  // A link is not enough: its content must be stored too, or the manifest would never pull.
  const stored = await Promise.all(parsed.blobDigests.map((digest, i) => (blobLinks[i] && refreshed[i] ? ctx.contentPresence.has(digest) : false)));
  const missingBlobs = parsed.blobDigests.filter((_, i) => !stored[i]);
  const missingManifests = parsed.manifestDigests.filter((digest, i) => !manifests[i] && !absentChildren?.has(digest));
  const missing = [...new Set([...missingBlobs, ...missingManifests])];
  if (missing.length > 0) {
    throw new RegistryError(
      "MANIFEST_BLOB_UNKNOWN",
      `manifest references ${missing.length === 1 ? "content" : `${missing.length} items`} not in repository ${name}: ${missing.join(", ")}; push ${missing.length === 1 ? "it" : "them"} first`,
      { detail: { missing } },
    );
  }
}

/**
 * Marks the links this push relies on as used, so the garbage collector, which spares blobs
 * whose links were used recently and deletes a link only if nobody touched it since it
 * looked, cannot delete them under the push. Only links not refreshed for a while are
 * written again (one write per blob per `linkRefreshMs` at most, not one per push). Answers,
 * per link, whether it still exists.
 */
async function refreshStaleLinks(ctx: RegistryContext, name: string, links: Array<BlobLink | undefined>): Promise<boolean[]> {
  const staleBefore = Date.now() - (ctx.options.linkRefreshMs ?? DEFAULT_LINK_REFRESH_MS);
  return Promise.all(
    links.map(async (link) => {
      if (!link) return false;
      if (link.usedAt && Date.parse(link.usedAt) >= staleBefore) return true;
      return ctx.metadata.refreshBlobLink(name, link.digest);
    }),
  );
}

export async function deleteManifest(ctx: RegistryContext, name: string, reference: string, principal: Principal, request?: HandlerRequest): Promise<HandlerResponse> {
  const target = lookupReference(reference);
  if (!target) throw manifestUnknown(name, reference);
  const source = await originOf(ctx, principal);
  const exists = "tag" in target ? await ctx.metadata.getTaggedManifest(name, target.tag) : await ctx.metadata.getManifest(name, target.digest);
  if (exists && "digest" in target) await deleteReferrersOf(ctx, name, target.digest, source, request);
  const deleted =
    exists !== undefined &&
    ("tag" in target
      ? await ctx.changes.record({ repository: name, kind: "tag.delete", tag: target.tag, ...source }, () => ctx.metadata.deleteTag(name, target.tag))
      : await ctx.changes.record({ repository: name, kind: "manifest.delete", digest: target.digest, ...source }, () => ctx.metadata.deleteManifest(name, target.digest)));
  if (!deleted) throw manifestUnknown(name, reference);
  await ctx.events?.emit(deleteEvent(name, exists, "tag" in target ? target.tag : undefined, request));
  return emptyResponse(202);
}

/** `{ source }` when the caller is a connected registry's sync token (an upstream push). */
async function originOf(ctx: RegistryContext, principal: Principal): Promise<{ source?: string }> {
  if (!principal.tokenName || !ctx.originOf) return {};
  const source = await ctx.originOf(principal.tokenName);
  return source ? { source } : {};
}
