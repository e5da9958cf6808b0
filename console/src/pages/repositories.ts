/**
 * Repositories: the registry's repositories (paged), and one repository with its tags (paged),
 * each tag linking to its manifest; a tag is deleted after the operator confirms.
 */
import { api, ApiError } from "../api.js";
import { h, notice, show } from "../dom.js";
import { ago, bytes, dateTime } from "../format.js";
import type { Leave } from "../main.js";
import { pager } from "../pager.js";
import { manifestHash, repositoryApi, repositoryHash, shortDigest } from "../repository-paths.js";
import type { Paged, RepositorySummary, TagDetail } from "../types.js";

const errorText = (error: unknown): string => (error instanceof ApiError ? `${error.code}: ${error.message}` : String(error));

export function renderRepositories(main: HTMLElement): Leave {
  const messages = h("div", { class: "messages" });
  const list = h("div");
  let stopped = false;
  const fail = (error: unknown) => show(messages, notice("error", errorText(error)));
  const pages = pager<{ name: string }>(
    "repositories",
    (query) => api<Paged<{ name: string }>>("GET", `repositories${query}`),
    (entries) => {
      if (stopped) return;
      show(list, entries.length === 0 ? h("p", { class: "muted" }, "No repository yet: push one to /v2/.") : h("ul", { class: "plain repositories" }, entries.map((entry) => h("li", {}, h("a", { href: repositoryHash(entry.name) }, entry.name)))));
      main.dataset.rendered = String(Date.now());
    },
    fail,
  );
  show(main, h("h1", {}, "Repositories"), messages, pages.controls, list);
  void pages.reload();
  return () => {
    stopped = true;
  };
}

export function renderRepository(main: HTMLElement, name: string): Leave {
  const messages = h("div", { class: "messages" });
  const summary = h("section", { "aria-labelledby": "repository-summary-title" });
  const tags = h("tbody");
  let stopped = false;
  const fail = (error: unknown) => show(messages, notice("error", errorText(error)));

  const loadSummary = async (): Promise<void> => {
    const repository = await api<RepositorySummary>("GET", repositoryApi(name));
    if (stopped) return;
    const row = (term: string, value: string) => [h("dt", {}, term), h("dd", {}, value)];
    show(summary, h("h2", { id: "repository-summary-title" }, "Summary"), h("dl", { class: "summary" },
      row("Tags", String(repository.tagCount)),
      row("Manifests", String(repository.manifestCount)),
      row("Last update", repository.lastUpdate ? `${ago(repository.lastUpdate)} (${dateTime(repository.lastUpdate)})` : "—"),
    ));
  };

  const remove = async (tag: TagDetail): Promise<void> => {
    if (!confirm(`Delete tag ${tag.tag} of ${name}? Pulls by this tag stop working here and on every edge that syncs ${name}; the manifest ${shortDigest(tag.digest)} stays.`)) return;
    try {
      await api("DELETE", `${repositoryApi(name)}/_tags/${encodeURIComponent(tag.tag)}`);
      show(messages, notice("info", `Tag ${tag.tag} deleted from ${name}.`));
      await Promise.all([pages.reload(), loadSummary()]);
    } catch (error) {
      fail(error);
    }
  };

  const pages = pager<TagDetail>(
    "tags",
    (query) => api<Paged<TagDetail>>("GET", `${repositoryApi(name)}/_tags${query}`),
    (entries) => {
      if (stopped) return;
      show(tags, entries.length === 0 ? h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No tags.")) : entries.map((tag) =>
        h("tr", { "data-tag": tag.tag },
          h("td", {}, tag.tag),
          h("td", {}, h("a", { href: manifestHash(name, tag.digest), title: tag.digest, "aria-label": `Manifest ${tag.digest} of tag ${tag.tag}` }, shortDigest(tag.digest))),
          h("td", {}, tag.mediaType),
          h("td", {}, bytes(tag.size)),
          h("td", {}, h("span", { title: dateTime(tag.updatedAt) }, ago(tag.updatedAt))),
          h("td", {}, h("button", { type: "button", class: "small danger", "aria-label": `Delete tag ${tag.tag}`, onclick: () => void remove(tag) }, "Delete")),
        )));
      main.dataset.rendered = String(Date.now());
    },
    fail,
  );

  show(
    main,
    h("p", {}, h("a", { href: "#/repositories" }, "← Repositories")),
    h("h1", {}, name),
    messages,
    summary,
    h("section", { "aria-labelledby": "tags-title" },
      h("h2", { id: "tags-title" }, "Tags"),
      pages.controls,
      h("table", {}, h("thead", {}, h("tr", {}, ["Tag", "Digest", "Media type", "Manifest size", "Updated", "Actions"].map((title) => h("th", { scope: "col" }, title)))), tags),
    ),
  );
  loadSummary().then(() => pages.reload(), fail);
  return () => {
    stopped = true;
  };
}
