/** GET /v2/<name>/referrers/<digest>: the manifests whose subject is that digest, as an OCI index. */
import { OCI_INDEX } from "../domain/media-types.js";
import type { HandlerRequest, HandlerResponse } from "../http/types.js";
import type { RegistryContext } from "./context.js";
import { RegistryError } from "../domain/registry-errors.js";
import { jsonResponse } from "./respond.js";
import { requireDigest } from "./validate.js";

export async function listReferrers(ctx: RegistryContext, request: HandlerRequest, name: string, digestParam: string): Promise<HandlerResponse> {
  const subject = requireDigest(digestParam).value;
  if (!(await ctx.metadata.repositoryExists(name))) {
    throw new RegistryError("NAME_UNKNOWN", `repository ${name} is not known to this registry`, { detail: { name } });
  }
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
  // The spec: an unknown subject is an empty index, not a 404.
  return jsonResponse(
    200,
    { schemaVersion: 2, mediaType: OCI_INDEX, manifests },
    { "Content-Type": OCI_INDEX, ...(artifactType !== null ? { "OCI-Filters-Applied": "artifactType" } : {}) },
  );
}
