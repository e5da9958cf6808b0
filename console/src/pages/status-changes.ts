/**
 * An edge's status history (GET connectedRegistries/<name>/statusHistory): each change of its
 * connection state, activation or reported problem codes, newest first, as the cloud recorded it.
 */
import { h, show } from "../dom.js";
import { dateTime } from "../format.js";
import type { StatusChange } from "../types.js";
import { stateBadge } from "./fleet-tree.js";

export function drawStatusChanges(section: HTMLElement, changes: StatusChange[]): void {
  show(
    section,
    h("h2", { id: "changes-title" }, `Status history (${changes.length})`),
    changes.length === 0
      ? h("p", { class: "muted" }, "No status change recorded yet.")
      : h("table", {},
          h("thead", {}, h("tr", {}, ["When", "Connection", "Activation", "Problem codes"].map((title) => h("th", { scope: "col" }, title)))),
          h("tbody", {}, changes.map((change) => h("tr", { "data-change": `${change.connectionState}/${change.activation}` },
            h("td", {}, dateTime(change.timestamp)),
            h("td", {}, stateBadge(change.connectionState)),
            h("td", {}, change.activation),
            h("td", {}, change.codes.length === 0 ? "—" : change.codes.flatMap((code, index) => [index > 0 ? ", " : "", h("code", {}, code)]))),
          ))),
  );
}
