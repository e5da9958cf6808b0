/** GET /v2/<name>/referrers/<digest>: the manifests whose subject is that digest, as an OCI index. */
import { OCI_INDEX } from "../domain/media-types.js";
import type { HandlerRequest, HandlerResponse } from "../http/types.js";
import type { RegistryContext } from "./context.js";
import { jsonResponse } from "./respond.js";
import { requireDigest } from "./validate.js";

export async function listReferrers(ctx: RegistryContext, request: HandlerRequest, name: string, digestParam: string): Promise<HandlerResponse> {
  const subject = requireDigest(digestParam).value;
  const artifactType = request.url.searchParams.get("artifactType");
  const referrers = await ctx.metadata.listReferrers(name, subject);
  const manifests = referrers
    .filter((m) => artifactType === null || m.artifactType === artifactType)
    .sort((a, b) => a.digest.localeCompare(b.digest))
    .map((m) => ({
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.size,
      ...(m.artifactType ? { artifactType: m.artifactType } : {}),
      ...(m.annotations ? { annotations: m.annotations } : {}),
    }));
  // The spec: the referrers API answers 200 with an index, empty when nothing refers to the
  // digest, whether or not the subject or the repository exists. Clients read a 404 as "no
  // referrers API here" and fall back to the tag schema (sha256-<hex> tags).
  return jsonResponse(
    200,
    { schemaVersion: 2, mediaType: OCI_INDEX, manifests },
    { "Content-Type": OCI_INDEX, ...(artifactType !== null ? { "OCI-Filters-Applied": "artifactType" } : {}) },
  );
}
