/**
 * GET /console on an edge agent: a read-only status page for a person, rendered on the server
 * from what GET /status already shows plus the disk figures. Without credentials it carries no
 * secrets and no token or child names, the same rule as GET /status; a client token of this
 * edge (HTTP Basic, asked for at /console?signin) also sees those names. No script at all: it
 * reloads itself (meta refresh), and its one inline stylesheet is allowed by its hash, so the
 * CSP stays `default-src 'none'`.
 */
import { createHash } from "node:crypto";
import { parseBasic } from "../../shared/auth/basic-credentials.js";
import type { LoginResult } from "../../shared/auth/password-login.js";
import type { Handler, HandlerRequest, HandlerResponse } from "../../shared/http/types.js";
import type { EdgeState } from "./state.js";
import { statusView } from "./status.js";
import type { DiskStatus } from "./store/disk-guard.js";

const REFRESH_SECONDS = 10;

const STYLE = [
  "body{font:15px/1.45 system-ui,sans-serif;color:#1b1f24;background:#fff;margin:0 auto;max-width:60rem;padding:1rem 1.5rem}",
  "h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}",
  "dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600;color:#4d5661}dd{margin:0}",
  "table{border-collapse:collapse;width:100%}th,td{text-align:left;border-bottom:1px solid #c9d1d9;padding:.3rem .5rem}",
  ".bad{color:#a1120c}.muted{color:#4d5661}",
].join("");
const STYLE_HASH = createHash("sha256").update(STYLE).digest("base64");

export const STATUS_PAGE_HEADERS: Record<string, string> = {
  "Content-Type": "text/html; charset=utf-8",
  "Cache-Control": "no-store",
  "Content-Security-Policy": `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
};

/** The agent's password login (the token server's and /v2/'s, with its failed-login limits). */
export type ClientLogin = (name: string, password: string, address: string | undefined) => Promise<LoginResult>;

export function createStatusPageHandler(state: () => Readonly<EdgeState>, disk: () => Promise<DiskStatus>, login: ClientLogin): Handler {
  return async (request) => {
    if (!/^\/console\/?$/.test(request.url.pathname)) {
      return { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" }, body: "no page here: the status page is at /console\n" };
    }
    const signedIn = await clientTokenOf(request, state(), login);
    if (typeof signedIn === "object") return signedIn;
    if (!signedIn && request.url.searchParams.has("signin")) return askForCredentials("sign in with a client token of this connected registry");
    const body = renderStatusPage(state(), await disk().catch(() => undefined), new Date(), { signedIn });
    return { status: 200, headers: STATUS_PAGE_HEADERS, ...(request.method === "HEAD" ? {} : { body }) };
  };
}

/** The client token's name when the request carries one that may sign in here; a refusal to answer as is; false without credentials. */
async function clientTokenOf(request: HandlerRequest, current: Readonly<EdgeState>, login: ClientLogin): Promise<string | false | HandlerResponse> {
  const credentials = parseBasic(request.headers.get("authorization"));
  if (!credentials) return false;
  // Checked (and counted by the failed-login limits) whatever the name, and refused in one wording,
  // so the page does not tell which names are tokens here.
  const result = await login(credentials.username, credentials.password, request.clientAddress);
  if (!result.ok && (result.reason === "throttled" || result.reason === "busy")) {
    return { status: 429, headers: { "Content-Type": "text/plain; charset=utf-8", "Retry-After": String(result.retryAfterSeconds) }, body: `${result.message}\n` };
  }
  // Client tokens only: a child's sync token is for syncing, not for reading this edge's page.
  const isClientToken = (current.configuration?.clientTokens ?? []).some((token) => token.name === credentials.username);
  if (result.ok && isClientToken) return credentials.username;
  return askForCredentials("the name and password are not those of an enabled client token of this connected registry");
}

function askForCredentials(message: string): HandlerResponse {
  return { status: 401, headers: { "Content-Type": "text/plain; charset=utf-8", "WWW-Authenticate": 'Basic realm="edge status", charset="UTF-8"', "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" }, body: `${message}\n` };
}

export function renderStatusPage(state: Readonly<EdgeState>, disk: DiskStatus | undefined, now: Date, viewer: { signedIn: string | false } = { signedIn: false }): string {
  const names = viewer.signedIn !== false;
  const view = statusView(state, { names }) as ReturnType<typeof statusView> & Record<string, any>;
  const progress = state.progress;
  const problems: Array<[string, string, string]> = [
    ...(state.conditions ?? []).map((condition): [string, string, string] => [condition.since, condition.code, condition.description]),
    ...(state.failedItems ?? []).map((item): [string, string, string] => [item.since, "NOT_SYNCED", `${item.repository}${item.tag ? `:${item.tag}` : item.digest ? `@${item.digest}` : ""}: ${item.error}`]),
    ...(state.upstreamParked ?? []).map((entry): [string, string, string] => [entry.since, "UPSTREAM_PARKED", `${entry.repository}: ${entry.error}`]),
  ];
  const rows: Array<[string, string]> = [
    ["Connected registry", state.connectedRegistryName ?? "(never started)"],
    ["Activation", `${state.activation.status}${state.activation.message ? ` (${state.activation.message})` : ""}`],
    ["Mode", String(view.mode ?? "unknown until activation")],
    ["Repositories", (state.configuration?.repositories ?? []).join(", ") || "—"],
    ["Schedule", state.configuration ? `${state.configuration.schedule}${state.configuration.syncWindow ? `, window ${state.configuration.syncWindow}` : " (continuous)"}` : "—"],
    ...(view.outsideSyncWindow ? [["Sync window", String(view.outsideSyncWindow)] as [string, string]] : []),
    ["Full sync", state.cursor ? "done" : state.fullSyncFrom ? "in progress" : "not started"],
    ["Last sync", `${state.lastSyncTime ?? "never"}${state.syncTrigger ? ` (${state.syncTrigger})` : ""}`],
    ["Last contact with parent", state.lastContactTime ?? "never"],
    ["Progress", progress.phase === "idle" ? "idle" : `${progress.phase}: ${progress.itemsDone}/${progress.itemsTotal}${progress.current ? ` (${progress.current})` : ""}, ${mebibytes(progress.bytesFetched)} fetched`],
    ["Disk", disk ? `${mebibytes(disk.storedBytes)} stored${disk.maxStorageBytes ? ` of ${mebibytes(disk.maxStorageBytes)} allowed` : ""}, ${mebibytes(disk.freeBytes)} free on the volume${disk.full ? " — FULL: pushes and new content refused" : ""}` : "unknown"],
    ["Client tokens", names ? (state.configuration?.clientTokens ?? []).map((token) => `${token.name}${token.status === "enabled" ? "" : " (disabled)"}`).join(", ") || "none" : String(view.clientTokens)],
    ["Children", names ? Object.entries(state.children).map(([name, child]) => `${name}${child.instanceId ? "" : " (not activated)"}`).join(", ") || "none" : String(view.children)],
    ["Last error", state.lastError ?? "none"],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<title>${escapeHtml(state.connectedRegistryName ?? "edge agent")} — status</title>
<style>${STYLE}</style></head>
<body><main>
<h1>Edge agent ${escapeHtml(state.connectedRegistryName ?? "(never started)")}</h1>
<p class="muted">Read-only; refreshes every ${REFRESH_SECONDS} s (as of ${escapeHtml(now.toISOString())}). The same facts as JSON: <a href="/status">/status</a>. ${names ? `Signed in as client token ${escapeHtml(String(viewer.signedIn))}.` : 'Token and child names: <a href="/console?signin">sign in with a client token</a>.'}</p>
<dl>${rows.map(([term, value]) => `<dt>${escapeHtml(term)}</dt><dd${term === "Last error" && state.lastError ? ' class="bad"' : ""}>${escapeHtml(value)}</dd>`).join("")}</dl>
<h2>Recent problems</h2>
${problems.length === 0 ? '<p class="muted">None.</p>' : `<table><thead><tr><th scope="col">Since</th><th scope="col">Code</th><th scope="col">Description</th></tr></thead><tbody>${problems.map((cells) => `<tr>${cells.map((cell) => `<td>${escapeHtml(cell)}</td>`).join("")}</tr>`).join("")}</tbody></table>`}
</main></body></html>
`;
}

function mebibytes(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}
