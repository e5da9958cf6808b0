/** Reads a whole sorted listing, or one page of it, through a store's paged query. */
import { MAX_PAGE_SIZE, parsePageRequest } from "../domain/pagination.js";
import type { Page } from "../store/interfaces.js";
import { RegistryError } from "../domain/registry-errors.js";

export interface Listing {
  entries: string[];
  /** The last entry, when more follow it. */
  continueAfter?: string;
}

export async function readListing(params: URLSearchParams, query: (page: Page) => Promise<string[]>): Promise<Listing> {
  const request = parsePageRequest(params);
  if (!request.ok) throw new RegistryError("PAGINATION_NUMBER_INVALID", request.message);
  const { limit, after } = request.page;
  if (limit === 0) return { entries: [] };
  if (limit !== undefined) {
    // One extra entry tells whether another page follows.
    const entries = await query({ limit: limit + 1, after });
    if (entries.length <= limit) return { entries };
    const page = entries.slice(0, limit);
    return { entries: page, continueAfter: page[page.length - 1]! };
  }
  const entries: string[] = [];
  let cursor = after;
  for (;;) {
    const page = await query({ limit: MAX_PAGE_SIZE, after: cursor });
    entries.push(...page);
    if (page.length < MAX_PAGE_SIZE) return { entries };
    cursor = page[page.length - 1];
  }
}
