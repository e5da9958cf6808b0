/**
 * One manifest: its type and sizes, an index's platforms (each linking to its image), an
 * image's config and layers, and its referrers (signatures, SBOMs) linking to theirs.
 */
import { api, ApiError } from "../api.js";
import { h, notice, show, type Child } from "../dom.js";
import { bytes, dateTime } from "../format.js";
import type { Leave } from "../main.js";
import { manifestHash, referrerKind, repositoryApi, repositoryHash, shortDigest } from "../repository-paths.js";
import type { DescriptorView, ManifestView } from "../types.js";
import { drawLocations } from "./locations.js";

export function renderManifest(main: HTMLElement, name: string, digest: string): Leave {
  let stopped = false;
  const body = h("div");
  show(main, h("p", {}, h("a", { href: repositoryHash(name) }, `← ${name}`)), h("h1", {}, `${name}@${shortDigest(digest)}`), body);
  api<ManifestView>("GET", `${repositoryApi(name)}/_manifests/${encodeURIComponent(digest)}`).then(
    (manifest) => {
      if (stopped) return;
      const where = h("section", { "aria-labelledby": "locations-title" });
      show(body, summary(manifest), platforms(manifest), blobs(manifest), referrers(manifest), where, annotations(manifest.annotations));
      main.dataset.rendered = String(Date.now());
      void drawLocations(where, name, digest).then(() => {
        where.dataset.rendered = String(Date.now());
      });
    },
    (error: unknown) => show(body, notice("error", error instanceof ApiError ? `${error.code}: ${error.message}` : String(error))),
  );
  return () => {
    stopped = true;
  };
}

const table = (headings: string[], rows: Child[]) => h("table", {}, h("thead", {}, h("tr", {}, headings.map((title) => h("th", { scope: "col" }, title)))), h("tbody", {}, rows));
const digestLink = (name: string, digest: string, label: string) => h("a", { href: manifestHash(name, digest), title: digest, "aria-label": label }, shortDigest(digest));

function summary(manifest: ManifestView): HTMLElement {
  const row = (term: string, value: Child) => [h("dt", {}, term), h("dd", {}, value)];
  return h("section", { "aria-labelledby": "manifest-summary-title" }, h("h2", { id: "manifest-summary-title" }, "Manifest"), h("dl", { class: "summary" },
    row("Digest", h("code", {}, manifest.digest)),
    row("Media type", manifest.mediaType),
    manifest.artifactType ? row("Artifact type", manifest.artifactType) : null,
    row("Manifest size", bytes(manifest.size)),
    row("Total size", manifest.totalSize === null ? "—" : `${bytes(manifest.totalSize)}${manifest.platforms ? " (all platforms, each blob once)" : " (config and layers)"}`),
    manifest.subject ? row("Refers to", digestLink(manifest.repository, manifest.subject, `Subject manifest ${manifest.subject}`)) : null,
    row("Pushed", dateTime(manifest.createdAt)),
  ));
}

function platforms(manifest: ManifestView): HTMLElement | null {
  if (!manifest.platforms) return null;
  const label = (platform: Record<string, unknown> | null) => (platform ? [platform.os, platform.architecture, platform.variant].filter((part) => typeof part === "string" && part).join("/") : "—");
  return h("section", { "aria-labelledby": "platforms-title" }, h("h2", { id: "platforms-title" }, `Platforms (${manifest.platforms.length})`),
    table(["Platform", "Digest", "Manifest size", "Total size"], manifest.platforms.map((child) =>
      h("tr", { "data-platform": label(child.platform) },
        h("td", {}, label(child.platform)),
        h("td", {}, digestLink(manifest.repository, child.digest, `Manifest ${child.digest} for ${label(child.platform)}`)),
        h("td", {}, bytes(child.size)),
        h("td", {}, bytes(child.totalSize)),
      ))));
}

function blobs(manifest: ManifestView): HTMLElement | null {
  if (!manifest.config) return null;
  const rows = [{ role: "Config", blob: manifest.config }, ...(manifest.layers ?? []).map((blob: DescriptorView, index) => ({ role: `Layer ${index + 1}`, blob }))];
  return h("section", { "aria-labelledby": "blobs-title" }, h("h2", { id: "blobs-title" }, "Config and layers"),
    table(["", "Digest", "Media type", "Size"], rows.map(({ role, blob }) => h("tr", {}, h("td", {}, role), h("td", {}, h("code", { title: blob.digest }, shortDigest(blob.digest))), h("td", {}, blob.mediaType), h("td", {}, bytes(blob.size))))));
}

function referrers(manifest: ManifestView): HTMLElement {
  return h("section", { "aria-labelledby": "referrers-title" }, h("h2", { id: "referrers-title" }, `Referrers (${manifest.referrers.length})`),
    manifest.referrers.length === 0 ? h("p", { class: "muted" }, "No signature, SBOM or other artifact refers to this manifest.") :
    table(["Kind", "Artifact type", "Digest", "Size", "Pushed"], manifest.referrers.map((referrer) =>
      h("tr", { "data-referrer": referrer.digest },
        h("td", {}, referrerKind(referrer.artifactType)),
        h("td", {}, referrer.artifactType ?? "—"),
        h("td", {}, digestLink(manifest.repository, referrer.digest, `Referrer ${referrer.digest}`)),
        h("td", {}, bytes(referrer.size)),
        h("td", {}, dateTime(referrer.createdAt)),
      ))));
}

function annotations(values: Record<string, string>): HTMLElement | null {
  const entries = Object.entries(values);
  if (entries.length === 0) return null;
  return h("section", { "aria-labelledby": "annotations-title" }, h("h2", { id: "annotations-title" }, "Annotations"),
    h("dl", { class: "summary" }, entries.map(([key, value]) => [h("dt", {}, key), h("dd", {}, value)])));
}
