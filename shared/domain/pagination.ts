/** The `n`/`last` pagination that tags/list and _catalog share. */

/** Largest page a client may ask for; a request without `n` is served in pages of this size internally. */
export const MAX_PAGE_SIZE = 1000;

export interface PageRequest {
  /** Entries to return; undefined means "all of them". */
  limit: number | undefined;
  /** Return only entries sorting after this one. */
  after: string | undefined;
}

export type PageRequestResult = { ok: true; page: PageRequest } | { ok: false; message: string };

export function parsePageRequest(params: URLSearchParams): PageRequestResult {
  const n = params.get("n");
  const last = params.get("last") ?? undefined;
  if (n === null || n === "") return { ok: true, page: { limit: undefined, after: last } };
  if (!/^\d+$/.test(n)) return { ok: false, message: `n must be a non-negative integer, got "${n}"` };
  // The spec lets a registry return fewer than n entries; a Link header then leads on.
  return { ok: true, page: { limit: Math.min(Number(n), MAX_PAGE_SIZE), after: last } };
}
