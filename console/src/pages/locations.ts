/**
 * "Where is it" on a manifest's page (GET repositories/<name>/_manifests/<digest>/locations):
 * the edges whose last reported inventory holds this manifest under some tag, and whether each
 * of those tags points at it in the cloud too. It is as fresh as each edge's last report.
 */
import { api, ApiError } from "../api.js";
import { h, notice, show } from "../dom.js";
import { dateTime } from "../format.js";
import { repositoryApi, shortDigest } from "../repository-paths.js";
import type { ManifestLocation } from "../types.js";

export async function drawLocations(section: HTMLElement, name: string, digest: string): Promise<void> {
  const title = h("h2", { id: "locations-title" }, "Where is it");
  try {
    const { value } = await api<{ value: ManifestLocation[] }>("GET", `${repositoryApi(name)}/_manifests/${encodeURIComponent(digest)}/locations`);
    show(
      section,
      title,
      value.length === 0
        ? h("p", { class: "muted" }, "No connected registry reports holding this manifest under a tag.")
        : h("table", {},
            h("thead", {}, h("tr", {}, ["Edge", "Tags", "Digest held", "Same as cloud", "Reported"].map((heading) => h("th", { scope: "col" }, heading)))),
            h("tbody", {}, value.map((location) => h("tr", { "data-location": location.connectedRegistry },
              h("td", {}, h("a", { href: `#/edges/${encodeURIComponent(location.connectedRegistry)}` }, location.connectedRegistry)),
              h("td", {}, location.tags.join(", ")),
              h("td", {}, h("code", { title: location.digest }, shortDigest(location.digest))),
              h("td", {}, location.matches ? "Yes" : "No: the cloud's tag now points elsewhere"),
              h("td", {}, `${dateTime(location.reportedAt)}${location.truncated ? " (inventory truncated)" : ""}`),
            )))),
    );
  } catch (error) {
    show(section, title, notice("error", error instanceof ApiError ? `${error.code}: ${error.message}` : String(error)));
  }
}
