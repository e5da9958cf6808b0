/**
 * The connected registries as a tree under the cloud registry, with a filter by connection
 * state that keeps each match's ancestors (shown as context) so the hierarchy still reads.
 */
import { h, type Child } from "../dom.js";
import { ago, bytes, duration } from "../format.js";
import type { ConnectedRegistry, ConnectionState, StatusDetail } from "../types.js";

export type StateFilter = ConnectionState | "All";

export function fleetTree(registries: ConnectedRegistry[], filter: StateFilter, now: number): HTMLElement {
  const children = new Map<string | null, ConnectedRegistry[]>();
  const known = new Set(registries.map((registry) => registry.name));
  for (const registry of registries) {
    // A parent the list does not hold (deleted meanwhile) still shows its child, under the cloud.
    const parent = registry.parent && known.has(registry.parent) ? registry.parent : null;
    children.set(parent, [...(children.get(parent) ?? []), registry]);
  }
  for (const list of children.values()) list.sort((a, b) => a.name.localeCompare(b.name));
  const matches = (registry: ConnectedRegistry): boolean => filter === "All" || registry.connectionState === filter;
  const visible = (registry: ConnectedRegistry): boolean => matches(registry) || (children.get(registry.name) ?? []).some(visible);

  const branch = (parent: string | null): Child => {
    const shown = (children.get(parent) ?? []).filter(visible);
    if (shown.length === 0) return null;
    // Plain nested lists, not role=tree: a tree role promises arrow-key navigation; links and Tab do the job here.
    return h("ul", {}, shown.map((registry) => h("li", { "data-edge": registry.name, class: matches(registry) ? "" : "context" }, node(registry, now), branch(registry.name))));
  };
  return h(
    "ul",
    { "aria-label": "Connected registries under the cloud registry", class: "tree" },
    h("li", { class: "cloud" }, h("div", { class: "node" }, h("strong", {}, "Cloud registry"), h("span", { class: "muted" }, ` — ${registries.length} connected registr${registries.length === 1 ? "y" : "ies"}`)), branch(null) ?? h("p", { class: "muted" }, filter === "All" ? "No connected registries yet." : `No connected registry is ${filter}.`)),
  );
}

function node(registry: ConnectedRegistry, now: number): HTMLElement {
  const lastError = latestError(registry.statusDetails);
  const progress = registry.syncProgress;
  return h(
    "div",
    { class: "node" },
    h("a", { href: `#/edges/${encodeURIComponent(registry.name)}`, class: "name" }, registry.name),
    stateBadge(registry.connectionState),
    h("span", { class: `badge activation-${registry.activation.status.toLowerCase()}` }, registry.activation.status),
    h("span", { class: "badge mode" }, registry.mode),
    h(
      "dl",
      { class: "facts" },
      fact("Last sync", ago(registry.lastSyncTime, now)),
      fact("Lag", registry.lag ? `${registry.lag.changes} changes${registry.lag.oldestChangeAgeSeconds ? `, oldest ${duration(registry.lag.oldestChangeAgeSeconds)}` : ""}` : "—"),
      fact("Usage", registry.usage ? `${bytes(registry.usage.bytes)} in ${registry.usage.repositories} repos${registry.usage.freeBytes !== null ? `, ${bytes(registry.usage.freeBytes)} free` : ""}` : "—"),
      fact("Schedule", `${registry.schedule}${registry.syncWindow ? ` for ${registry.syncWindow}` : ""}`),
      progress ? fact("Progress", `${progress.phase} ${progress.objectsDone}/${progress.objectsTotal}`) : null,
      lastError ? fact("Last error", `${lastError.code}: ${lastError.description}`, "error-text") : null,
    ),
  );
}

export function stateBadge(state: ConnectionState): HTMLElement {
  return h("span", { class: `badge state state-${state.toLowerCase()}`, "data-state": state }, state);
}

function fact(term: string, value: string, className?: string): Child {
  return [h("dt", {}, term), h("dd", className ? { class: className } : {}, value)];
}

/** The newest entry: what the edge reported last. */
export function latestError(details: StatusDetail[]): StatusDetail | undefined {
  return [...details].sort((a, b) => Date.parse(b.timestamp) - Date.parse(a.timestamp))[0];
}
