/** GET, HEAD and DELETE of /v2/<name>/blobs/<digest>. */
import type { HandlerRequest, HandlerResponse } from "../http/types.js";
import type { ByteRange } from "../store/interfaces.js";
import type { RegistryContext } from "./context.js";
import { RegistryError } from "../domain/registry-errors.js";
import { emptyResponse } from "./respond.js";
import { requireDigest } from "./validate.js";

export async function getBlob(ctx: RegistryContext, request: HandlerRequest, name: string, digestParam: string): Promise<HandlerResponse> {
  const digest = requireDigest(digestParam).value;
  // The repository's link decides visibility: content shared across repositories is
  // only served where it was pushed or mounted.
  const link = await ctx.metadata.getBlobLink(name, digest);
  if (!link) throw new RegistryError("BLOB_UNKNOWN", `blob ${digest} is not in repository ${name}`, { detail: { digest } });
  if (!(await ctx.contentPresence.has(digest))) {
    // Answering 404 is what heals it: the client pushes the blob again, which rewrites the content.
    throw new RegistryError("BLOB_UNKNOWN", `blob ${digest} of repository ${name} has lost its content in storage; push it again`, { detail: { digest } });
  }

  const headers: Record<string, string> = {
    "Docker-Content-Digest": digest,
    "Accept-Ranges": "bytes",
    "Content-Type": "application/octet-stream",
    ETag: `"${digest}"`,
  };
  if (request.method === "HEAD") return { status: 200, headers: { ...headers, "Content-Length": String(link.size) } };

  const rangeHeader = request.headers.get("range");
  const range = parseRange(rangeHeader, link.size);
  if (ctx.options.blobDelivery === "redirect" && storageServesRange(rangeHeader, range)) {
    const url = await ctx.blobs.readUrl(digest);
    if (url) return emptyResponse(307, { Location: url, "Docker-Content-Digest": digest });
  }

  if (range === "unsatisfiable") {
    throw new RegistryError("RANGE_INVALID", `range ${request.headers.get("range")} is outside blob ${digest} of ${link.size} bytes`, {
      headers: { "Content-Range": `bytes */${link.size}` },
    });
  }
  if (!range) {
    return { status: 200, headers: { ...headers, "Content-Length": String(link.size) }, body: await ctx.blobs.read(digest) };
  }
  return {
    status: 206,
    headers: {
      ...headers,
      "Content-Length": String(range.end - range.start + 1),
      "Content-Range": `bytes ${range.start}-${range.end}/${link.size}`,
    },
    body: await ctx.blobs.read(digest, range),
  };
}

/**
 * Whether a redirect to storage answers this request as we would: no range, or a satisfiable
 * `first-last` / `first-` range. The rest is answered here: a suffix range (`bytes=-500`, which
 * Azurite answers with `Content-Length: NaN`), an unsatisfiable one (our 416 with the
 * RANGE_INVALID body and the blob's size), and one we ignore (several ranges, a malformed header:
 * the whole blob, where storage might answer otherwise).
 */
function storageServesRange(header: string | null, range: ByteRange | "unsatisfiable" | undefined): boolean {
  if (!header) return true;
  return range !== undefined && range !== "unsatisfiable" && /^bytes=\d+-\d*$/.test(header.trim());
}

/**
 * A single `bytes=` range (the form clients resuming a download send). Several ranges
 * or a malformed header are ignored, as RFC 9110 allows, and the whole blob is served.
 */
export function parseRange(header: string | null, size: number): ByteRange | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  // No byte of an empty blob can be addressed.
  if (size === 0) return "unsatisfiable";
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

export async function deleteBlob(ctx: RegistryContext, name: string, digestParam: string): Promise<HandlerResponse> {
  const digest = requireDigest(digestParam).value;
  // Only the repository's link goes; the shared bytes are collected once nothing links them.
  if (!(await ctx.metadata.deleteBlobLink(name, digest))) {
    throw new RegistryError("BLOB_UNKNOWN", `blob ${digest} is not in repository ${name}`, { detail: { digest } });
  }
  return emptyResponse(202, { "Docker-Content-Digest": digest });
}
