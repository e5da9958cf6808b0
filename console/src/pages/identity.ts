/**
 * Identity: scope maps (with the 500-action limit) and tokens (status, password expiry,
 * enable/disable, a password generated and shown once), and the registry's 20,000 limits.
 */
import { api, ApiError, segment } from "../api.js";
import { h, notice, secretOnce, show } from "../dom.js";
import { dateTime } from "../format.js";
import type { Leave } from "../main.js";
import { LIMITS, type ScopeMap, type Token } from "../types.js";

export function renderIdentity(main: HTMLElement): Leave {
  const messages = h("div", { class: "messages" });
  const secret = h("div");
  const gauges = h("section", { "aria-labelledby": "limits-title" });
  const scopeMaps = h("section", { "aria-labelledby": "scope-maps-title" });
  const tokens = h("section", { "aria-labelledby": "tokens-title" });
  let stopped = false;
  const fail = (error: unknown) => show(messages, notice("error", error instanceof ApiError ? `${error.code}: ${error.message}` : String(error)));

  const load = async (): Promise<void> => {
    const [maps, list] = await Promise.all([api<{ value: ScopeMap[] }>("GET", "scopeMaps"), api<{ value: Token[] }>("GET", "tokens")]);
    if (stopped) return;
    const userMaps = maps.value.filter((map) => map.type === "UserDefined").length;
    show(gauges, h("h2", { id: "limits-title" }, "Registry limits"), h("div", { class: "gauges" }, gauge("Tokens", list.value.length, LIMITS.tokens), gauge("Scope maps", userMaps, LIMITS.scopeMaps)));
    show(
      scopeMaps,
      h("h2", { id: "scope-maps-title" }, `Scope maps (${maps.value.length})`),
      h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Type", "Actions", "Description"].map((title) => h("th", { scope: "col" }, title)))),
        h("tbody", {}, maps.value.map((map) => h("tr", {}, h("td", {}, map.name), h("td", {}, map.type), h("td", {}, gauge(`Actions of ${map.name}`, map.actions.length, LIMITS.actionsPerScopeMap, true)), h("td", {}, map.description ?? ""))))),
    );
    show(
      tokens,
      h("h2", { id: "tokens-title" }, `Tokens (${list.value.length})`),
      list.value.length === 0 ? h("p", { class: "muted" }, "No token yet (registry-admin token create).") :
      h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Scope map", "Status", "Passwords", "Actions"].map((title) => h("th", { scope: "col" }, title)))),
        h("tbody", {}, list.value.map((token) => h("tr", { "data-token": token.name },
          h("td", {}, token.name),
          h("td", {}, token.scopeMap),
          h("td", {}, h("span", { class: `badge token-${token.status}` }, token.status)),
          h("td", {}, token.credentials.passwords.length === 0 ? "none" : token.credentials.passwords.map((password) => h("div", {}, `${password.name}: ${password.expiry ? `expires ${dateTime(password.expiry)}` : "no expiry"}`))),
          h("td", { class: "row" },
            h("button", { type: "button", class: "small", "aria-label": `${token.status === "enabled" ? "Disable" : "Enable"} token ${token.name}`, onclick: () => void change(token, { status: token.status === "enabled" ? "disabled" : "enabled" }) }, token.status === "enabled" ? "Disable" : "Enable"),
            h("button", { type: "button", class: "small", "aria-label": `New password1 for token ${token.name}`, onclick: () => void generate(token, "password1") }, "New password1"),
            h("button", { type: "button", class: "small", "aria-label": `New password2 for token ${token.name}`, onclick: () => void generate(token, "password2") }, "New password2"),
          ),
        )))),
    );
    main.dataset.rendered = String(Date.now());
  };
  const change = async (token: Token, body: { status: string }): Promise<void> => {
    try {
      await api("PATCH", `tokens/${segment(token.name)}`, body);
      show(messages, notice("info", `${token.name} is ${body.status}.`));
      await load();
    } catch (error) {
      fail(error);
    }
  };
  const generate = async (token: Token, password: "password1" | "password2"): Promise<void> => {
    if (token.credentials.passwords.some((existing) => existing.name === password) && !confirm(`Replace ${password} of ${token.name}? Clients using it stop working.`)) return;
    try {
      const answer = await api<{ username: string; passwords: Array<{ name: string; value: string }> }>("POST", `tokens/${segment(token.name)}/credentials/generate`, { name: password });
      show(secret, secretOnce(`${password} of ${answer.username}`, answer.passwords[0]?.value ?? ""));
      show(messages, notice("info", `New ${password} for ${token.name}.`));
      await load();
    } catch (error) {
      fail(error);
    }
  };

  show(main, h("h1", {}, "Identity"), messages, secret, gauges, scopeMaps, tokens);
  load().catch(fail);
  return () => {
    stopped = true;
  };
}

function gauge(label: string, value: number, limit: number, compact = false): HTMLElement {
  const meter = h("meter", { min: 0, max: limit, value, high: limit * 0.8, optimum: 0, "aria-label": `${label}: ${value} of ${limit}` });
  return h("div", { class: compact ? "gauge compact" : "gauge" }, compact ? null : h("span", {}, label), meter, h("span", { class: "muted" }, `${value.toLocaleString("en")} / ${limit.toLocaleString("en")}`));
}
