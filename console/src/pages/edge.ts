/**
 * One connected registry: its state (refreshed), status history, repositories and client
 * tokens, and the management API's actions on it (resync, deactivate, connection string).
 */
import { api, ApiError, segment } from "../api.js";
import { field, h, notice, secretOnce, show } from "../dom.js";
import { ago, bytes, dateTime, duration } from "../format.js";
import type { Leave } from "../main.js";
import { LIMITS, type ConnectedRegistry, type StatusChange, type Token } from "../types.js";
import { stateBadge } from "./fleet-tree.js";
import { drawStatusChanges } from "./status-changes.js";

const REFRESH_MS = 5000;

interface ConnectionSettings {
  connectionString: string;
}

export function renderEdge(main: HTMLElement, name: string): Leave {
  const path = `connectedRegistries/${segment(name)}`;
  const summary = h("section", { "aria-labelledby": "summary-title" });
  const history = h("section", { "aria-labelledby": "history-title" });
  const changes = h("section", { "aria-labelledby": "changes-title" });
  const repositories = h("section", { "aria-labelledby": "repositories-title" });
  const clientTokens = h("section", { "aria-labelledby": "tokens-title" });
  const messages = h("div", { class: "messages" });
  const secret = h("div");
  let stopped = false;
  let timer: number | undefined;

  const fail = (error: unknown) => show(messages, notice("error", error instanceof ApiError ? `${error.code}: ${error.message}` : String(error)));
  const act = async (what: () => Promise<unknown>, done: string): Promise<void> => {
    try {
      await what();
      show(messages, notice("info", done));
      await load(true);
    } catch (error) {
      fail(error);
    }
  };

  /** The timer redraws the status only: redrawing the forms would wipe what the operator is typing. */
  const load = async (withLists: boolean): Promise<void> => {
    const [registry, tokens, statusChanges] = await Promise.all([
      api<ConnectedRegistry>("GET", path),
      api<{ value: Token[] }>("GET", `${path}/clientTokens`),
      api<{ value: StatusChange[] }>("GET", `${path}/statusHistory`),
    ]);
    if (stopped) return;
    drawSummary(summary, registry);
    drawHistory(history, registry);
    drawStatusChanges(changes, statusChanges.value);
    if (withLists) {
      drawRepositories(repositories, registry, act, path);
      drawClientTokens(clientTokens, registry, tokens.value, act, path);
    }
    main.dataset.rendered = String(Date.now());
  };

  const password = h("select", { name: "password" }, h("option", { value: "1" }, "password1"), h("option", { value: "2" }, "password2"));
  const protocol = h("select", { name: "protocol" }, h("option", { value: "" }, "as the registry decides"), h("option", { value: "https" }, "https"), h("option", { value: "http" }, "http"));
  const actions = h(
    "section",
    { "aria-labelledby": "actions-title" },
    h("h2", { id: "actions-title" }, "Actions"),
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", onclick: () => void act(() => api("POST", `${path}/resync`), `Resync requested: ${name} walks every repository at its next cycle.`) }, "Resync"),
      h("button", {
        type: "button",
        class: "danger",
        onclick: () => {
          if (confirm(`Deactivate ${name}? Its agent must be given a new connection string to activate again.`)) void act(() => api("POST", `${path}/deactivate`), `${name} is deactivated.`);
        },
      }, "Deactivate"),
    ),
    h(
      "form",
      {
        class: "row",
        onsubmit: (event: Event) => {
          event.preventDefault();
          void api<ConnectionSettings>("POST", `${path}/settings`, { generatePassword: Number(password.value), ...(protocol.value ? { parentProtocol: protocol.value } : {}) }).then(
            (settings) => {
              show(secret, secretOnce("Connection string", settings.connectionString));
              show(messages, notice("info", `A new ${password.selectedOptions[0]?.textContent} for ${name}'s sync token is in the connection string; the old one stopped working.`));
            },
            fail,
          );
        },
      },
      field("Sync token password to generate", password),
      field("Parent protocol", protocol),
      h("button", { type: "submit" }, "Generate connection string"),
    ),
  );

  show(main, h("p", {}, h("a", { href: "#/fleet" }, "← Fleet")), h("h1", {}, name), messages, secret, summary, actions, history, changes, repositories, clientTokens);
  let first = true;
  const refresh = async (): Promise<void> => {
    try {
      await load(first);
      first = false;
    } catch (error) {
      if (!stopped) fail(error);
    }
    if (!stopped) timer = window.setTimeout(() => void refresh(), REFRESH_MS);
  };
  void refresh();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}

function drawSummary(section: HTMLElement, registry: ConnectedRegistry): void {
  const row = (term: string, value: string | Node) => [h("dt", {}, term), h("dd", {}, value)];
  const progress = registry.syncProgress;
  show(
    section,
    h("h2", { id: "summary-title" }, "Status"),
    h(
      "dl",
      { class: "summary" },
      row("Connection", stateBadge(registry.connectionState)),
      row("Activation", registry.activation.status),
      row("Mode", registry.mode),
      row("Parent", registry.parent ?? "the cloud registry"),
      row("Last activity", ago(registry.lastActivityTime)),
      row("Last sync", `${ago(registry.lastSyncTime)} (${dateTime(registry.lastSyncTime)})`),
      row("Progress", progress ? `${progress.phase}: ${progress.objectsDone}/${progress.objectsTotal} objects, ${bytes(progress.bytesDone)} of ${bytes(progress.bytesTotal)}` : "—"),
      row("Lag", registry.lag ? `${registry.lag.changes} changes${registry.lag.oldestChangeAgeSeconds ? `, oldest ${duration(registry.lag.oldestChangeAgeSeconds)}` : ""}` : "—"),
      row("Usage", registry.usage ? `${bytes(registry.usage.bytes)} in ${registry.usage.repositories} repositories${registry.usage.freeBytes !== null ? `, ${bytes(registry.usage.freeBytes)} free` : ""}` : "—"),
      row("Schedule", `${registry.schedule}${registry.syncWindow ? `, window ${registry.syncWindow}` : " (continuous)"}`),
      row("Message TTL", registry.messageTtl),
      row("Sync token", registry.syncToken),
      row("Agent version", registry.version ?? "—"),
      row("Resync request", registry.resync ?? "—"),
    ),
  );
}

function drawHistory(section: HTMLElement, registry: ConnectedRegistry): void {
  const entries = [...registry.statusDetails].sort((a, b) => Date.parse(b.timestamp) - Date.parse(a.timestamp));
  show(
    section,
    h("h2", { id: "history-title" }, "Reported problems"),
    entries.length === 0
      ? h("p", { class: "muted" }, "The edge reports no problem.")
      : h("table", {}, h("thead", {}, h("tr", {}, ["When", "Type", "Code", "Description"].map((title) => h("th", { scope: "col" }, title)))), h("tbody", {}, entries.map((entry) => h("tr", {}, h("td", {}, dateTime(entry.timestamp)), h("td", {}, entry.type), h("td", {}, h("code", {}, entry.code)), h("td", {}, entry.description))))),
  );
}

type Act = (what: () => Promise<unknown>, done: string) => Promise<void>;

function drawRepositories(section: HTMLElement, registry: ConnectedRegistry, act: Act, path: string): void {
  const input = h("input", { name: "repository", required: true, placeholder: "team/app" });
  show(
    section,
    h("h2", { id: "repositories-title" }, `Repositories (${registry.repositories.length})`),
    h("ul", { class: "plain" }, registry.repositories.map((repository) => h("li", { class: "row" }, h("code", {}, repository), h("button", { type: "button", class: "small", "aria-label": `Remove repository ${repository}`, onclick: () => {
      if (confirm(`Remove ${repository} from ${registry.name} and every connected registry below it?`)) void act(() => api("POST", `${path}/permissions`, { removeRepositories: [repository] }), `${repository} removed.`);
    } }, "Remove")))),
    h("form", { class: "row", onsubmit: (event: Event) => {
      event.preventDefault();
      const repository = input.value.trim();
      if (repository) void act(() => api("POST", `${path}/permissions`, { addRepositories: [repository] }), `${repository} added to ${registry.name} and its ancestors.`);
    } }, field("Add a repository", input), h("button", { type: "submit" }, "Add")),
  );
}

function drawClientTokens(section: HTMLElement, registry: ConnectedRegistry, tokens: Token[], act: Act, path: string): void {
  const input = h("input", { name: "client-token", required: true, placeholder: "token name" });
  show(
    section,
    h("h2", { id: "tokens-title" }, `Client tokens (${tokens.length} of ${LIMITS.clientTokensPerRegistry})`),
    tokens.length === 0
      ? h("p", { class: "muted" }, "No client token: clients of this edge cannot sign in to it.")
      : h("table", {}, h("thead", {}, h("tr", {}, ["Token", "Scope map", "Status", ""].map((title) => h("th", { scope: "col" }, title)))), h("tbody", {}, tokens.map((token) => h("tr", {}, h("td", {}, token.name), h("td", {}, token.scopeMap), h("td", {}, token.status), h("td", {}, h("button", { type: "button", class: "small", "aria-label": `Remove client token ${token.name}`, onclick: () => void act(() => api("PATCH", path, { removeClientTokens: [token.name] }), `${token.name} removed.`) }, "Remove")))))),
    h("form", { class: "row", onsubmit: (event: Event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (token) void act(() => api("PATCH", path, { addClientTokens: [token] }), `${token} added.`);
    } }, field("Add an existing token", input), h("button", { type: "submit" }, "Add")),
  );
}
