/** Fleet: every connected registry at a glance, refreshed every few seconds while shown. */
import { api } from "../api.js";
import { field, h, notice, show } from "../dom.js";
import type { Leave } from "../main.js";
import type { ConnectedRegistry } from "../types.js";
import { fleetTree, type StateFilter } from "./fleet-tree.js";

const REFRESH_MS = 5000;
let remembered: StateFilter = "All";

export function renderFleet(main: HTMLElement): Leave {
  const select = h("select", { name: "state" }, (["All", "Online", "Syncing", "Unhealthy", "Offline"] as const).map((state) => h("option", { value: state, selected: state === remembered }, state)));
  const counts = h("p", { class: "counts", role: "status" });
  const updated = h("p", { class: "muted updated" });
  const body = h("div", { class: "tree-box", "aria-busy": "true" });
  let registries: ConnectedRegistry[] | undefined;
  const draw = (): void => {
    if (!registries) return;
    const by = (state: string) => registries!.filter((registry) => registry.connectionState === state).length;
    show(counts, `${registries.length} total · ${by("Online")} online · ${by("Syncing")} syncing · ${by("Unhealthy")} unhealthy · ${by("Offline")} offline`);
    show(body, fleetTree(registries, remembered, Date.now()));
  };
  select.addEventListener("change", () => {
    remembered = select.value as StateFilter;
    draw();
  });
  show(main, h("h1", {}, "Fleet"), h("div", { class: "row toolbar" }, field("Show connection state", select), counts), body, updated);

  let stopped = false;
  let timer: number | undefined;
  const refresh = async (): Promise<void> => {
    try {
      const started = performance.now();
      registries = (await api<{ value: ConnectedRegistry[] }>("GET", "connectedRegistries")).value;
      if (stopped) return;
      draw();
      body.setAttribute("aria-busy", "false");
      show(updated, `Updated ${new Date().toLocaleTimeString()} (${Math.round(performance.now() - started)} ms); refreshes every ${REFRESH_MS / 1000} s.`);
      main.dataset.rendered = String(Date.now());
    } catch (error) {
      if (!stopped) show(updated, notice("error", `Refresh failed: ${(error as Error).message}`));
    }
    if (!stopped) timer = window.setTimeout(() => void refresh(), REFRESH_MS);
  };
  void refresh();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}
