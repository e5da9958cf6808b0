/** GET /v2/_catalog, paginated with n and last. */
import type { Principal } from "../auth/authorizer.js";
import type { HandlerRequest, HandlerResponse } from "../http/types.js";
import type { Page } from "../store/interfaces.js";
import type { RegistryContext } from "./context.js";
import { readListing } from "./listing.js";
import { jsonResponse, nextPageLink } from "./respond.js";

/** Lists only the repositories the caller may read; pages are filled past the ones it may not. */
export async function listRepositories(ctx: RegistryContext, request: HandlerRequest, principal: Principal): Promise<HandlerResponse> {
  const listing = await readListing(request.url.searchParams, (page) => readableRepositories(ctx, principal, page));
  const headers: Record<string, string> = {};
  if (listing.continueAfter !== undefined) {
    headers.Link = nextPageLink("/v2/_catalog", listing.entries.length, listing.continueAfter);
  }
  return jsonResponse(200, { repositories: listing.entries }, headers);
}

async function readableRepositories(ctx: RegistryContext, principal: Principal, page: Page): Promise<string[]> {
  const readable: string[] = [];
  let after = page.after;
  for (;;) {
    const batch = await ctx.metadata.listRepositories({ limit: page.limit, after });
    readable.push(...batch.filter((name) => principal.mayRead(name)));
    if (readable.length >= page.limit || batch.length < page.limit) return readable.slice(0, page.limit);
    after = batch[batch.length - 1];
  }
}
