/** GET /v2/_catalog, paginated with n and last. */
import type { HandlerRequest, HandlerResponse } from "../http/types.js";
import type { RegistryContext } from "./context.js";
import { readListing } from "./listing.js";
import { jsonResponse, nextPageLink } from "./respond.js";

export async function listRepositories(ctx: RegistryContext, request: HandlerRequest): Promise<HandlerResponse> {
  const listing = await readListing(request.url.searchParams, (page) => ctx.metadata.listRepositories(page));
  const headers: Record<string, string> = {};
  if (listing.continueAfter !== undefined) {
    headers.Link = nextPageLink("/v2/_catalog", listing.entries.length, listing.continueAfter);
  }
  return jsonResponse(200, { repositories: listing.entries }, headers);
}
