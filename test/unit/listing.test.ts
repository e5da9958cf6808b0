import { describe, expect, it } from "vitest";
import { RegistryError } from "../../shared/domain/registry-errors.js";
import { readListing } from "../../shared/registry/listing.js";
import type { Page } from "../../shared/store/interfaces.js";

/** A sorted store listing answered page by page, recording each query. */
function fakeStore(entries: string[]) {
  const sorted = [...entries].sort();
  const queries: Page[] = [];
  const query = async (page: Page): Promise<string[]> => {
    queries.push({ ...page });
    const from = page.after === undefined ? 0 : sorted.findIndex((entry) => entry > page.after!);
    return from < 0 ? [] : sorted.slice(from, from + page.limit);
  };
  return { query, queries };
}

const names = (count: number) => Array.from({ length: count }, (_, i) => `repo-${String(i).padStart(5, "0")}`);

describe("reading a listing", () => {
  it("returns a full page and the cursor to continue after when more entries follow", async () => {
    const store = fakeStore(["a", "b", "c", "d", "e"]);
    expect(await readListing(new URLSearchParams("n=2"), store.query)).toEqual({ entries: ["a", "b"], continueAfter: "b" });
    expect(store.queries).toEqual([{ limit: 3, after: undefined }]);
  });

  it("gives no cursor when the page ends exactly at the last entry", async () => {
    const store = fakeStore(["a", "b", "c"]);
    expect(await readListing(new URLSearchParams("n=3"), store.query)).toEqual({ entries: ["a", "b", "c"] });
  });

  it("gives no cursor when fewer entries remain than asked for", async () => {
    const store = fakeStore(["a", "b"]);
    expect(await readListing(new URLSearchParams("n=5"), store.query)).toEqual({ entries: ["a", "b"] });
  });

  it("continues after the cursor a previous page returned", async () => {
    const store = fakeStore(["a", "b", "c", "d", "e"]);
    const first = await readListing(new URLSearchParams("n=2"), store.query);
    const second = await readListing(new URLSearchParams({ n: "2", last: first.continueAfter! }), store.query);
    const third = await readListing(new URLSearchParams({ n: "2", last: second.continueAfter! }), store.query);
    expect([first, second, third]).toEqual([
      { entries: ["a", "b"], continueAfter: "b" },
      { entries: ["c", "d"], continueAfter: "d" },
      { entries: ["e"] },
    ]);
    expect(store.queries.map((q) => q.after)).toEqual([undefined, "b", "d"]);
  });

  it("answers n=0 with no entries without querying the store", async () => {
    const store = fakeStore(["a"]);
    expect(await readListing(new URLSearchParams("n=0"), store.query)).toEqual({ entries: [] });
    expect(store.queries).toEqual([]);
  });

  it("refuses a non-numeric n with PAGINATION_NUMBER_INVALID", async () => {
    const store = fakeStore(["a"]);
    const error = await readListing(new URLSearchParams("n=ten"), store.query).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).code).toBe("PAGINATION_NUMBER_INVALID");
    expect((error as RegistryError).status).toBe(400);
    expect(store.queries).toEqual([]);
  });

  it("clamps a large n to 1000 entries a page", async () => {
    const store = fakeStore(names(1500));
    const listing = await readListing(new URLSearchParams("n=5000"), store.query);
    expect(listing.entries).toHaveLength(1000);
    expect(listing.continueAfter).toBe("repo-00999");
    expect(store.queries).toEqual([{ limit: 1001, after: undefined }]);
  });

  it("reads everything in pages of 1000 when n is absent", async () => {
    const all = names(2500);
    const store = fakeStore(all);
    const listing = await readListing(new URLSearchParams(), store.query);
    expect(listing).toEqual({ entries: all });
    expect(store.queries).toEqual([
      { limit: 1000, after: undefined },
      { limit: 1000, after: "repo-00999" },
      { limit: 1000, after: "repo-01999" },
    ]);
  });

  it("stops after an empty page when the entries fill whole pages exactly", async () => {
    const all = names(2000);
    const store = fakeStore(all);
    expect((await readListing(new URLSearchParams(), store.query)).entries).toEqual(all);
    expect(store.queries.map((q) => q.after)).toEqual([undefined, "repo-00999", "repo-01999"]);
  });

  it("reads everything after last when only last is given", async () => {
    const store = fakeStore(["a", "b", "c"]);
    expect(await readListing(new URLSearchParams("last=a"), store.query)).toEqual({ entries: ["b", "c"] });
    expect(store.queries).toEqual([{ limit: 1000, after: "a" }]);
  });

  it("returns an empty listing for an empty store", async () => {
    const store = fakeStore([]);
    expect(await readListing(new URLSearchParams(), store.query)).toEqual({ entries: [] });
  });
});
