/**
 * Paging through an `n`/`last` listing of the management API: the cursor of every page seen is
 * kept, so Previous goes back without the API offering it.
 */
import { field, h, show } from "./dom.js";
import type { Paged } from "./types.js";

export interface Pager {
  /** The page-size field and the Previous/Next buttons. */
  controls: HTMLElement;
  /** Reads the current page again (after a change to the list). */
  reload: () => Promise<void>;
}

export function pager<T>(noun: string, fetchPage: (query: string) => Promise<Paged<T>>, draw: (entries: T[]) => void, fail: (error: unknown) => void): Pager {
  const size = h("select", { name: "page-size" }, [10, 25, 50, 100].map((n) => h("option", { value: n, selected: n === 25 }, String(n))));
  const cursors: Array<string | undefined> = [undefined];
  let next: string | undefined;
  const position = h("span", { class: "muted", role: "status" });
  const previous = h("button", { type: "button", onclick: () => void go(cursors.length - 2) }, "Previous page");
  const following = h("button", { type: "button", onclick: () => void go(cursors.length, next) }, "Next page");

  const go = async (index: number, after?: string): Promise<void> => {
    if (index < 0) return;
    try {
      const cursor = index < cursors.length ? cursors[index] : after;
      const page = await fetchPage(`?n=${size.value}${cursor !== undefined ? `&last=${encodeURIComponent(cursor)}` : ""}`);
      cursors.length = index;
      cursors.push(cursor);
      next = page.nextLink ? (new URL(page.nextLink, location.origin).searchParams.get("last") ?? undefined) : undefined;
      previous.disabled = cursors.length < 2;
      following.disabled = next === undefined;
      show(position, `Page ${cursors.length}: ${page.value.length} ${noun}${next === undefined ? "" : ", more follow"}`);
      draw(page.value);
    } catch (error) {
      fail(error);
    }
  };
  size.addEventListener("change", () => void go(0));
  const controls = h("div", { class: "row pager" }, field(`${noun[0]!.toUpperCase()}${noun.slice(1)} per page`, size), previous, following, position);
  return { controls, reload: () => go(cursors.length - 1) };
}
