/** GET /v2/<name>/tags/list, paginated with n and last. */
import type { HandlerRequest, HandlerResponse } from "../http/types.js";
import type { RegistryContext } from "./context.js";
import { RegistryError } from "../domain/registry-errors.js";
import { readListing } from "./listing.js";
import { jsonResponse, nextPageLink } from "./respond.js";

export async function listTags(ctx: RegistryContext, request: HandlerRequest, name: string): Promise<HandlerResponse> {
  if (!(await ctx.metadata.repositoryExists(name))) {
    throw new RegistryError("NAME_UNKNOWN", `repository ${name} is not known to this registry`, { detail: { name } });
  }
  const listing = await readListing(request.url.searchParams, (page) => ctx.metadata.listTags(name, page));
  const headers: Record<string, string> = {};
  if (listing.continueAfter !== undefined) {
    headers.Link = nextPageLink(`/v2/${name}/tags/list`, listing.entries.length, listing.continueAfter);
  }
  return jsonResponse(200, { name, tags: listing.entries }, headers);
}
