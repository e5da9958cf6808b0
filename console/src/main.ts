/**
 * The console's shell: sign-in gate, navigation, and a hash router (#/fleet, #/edges/<name>,
 * #/repositories[/<name>[/manifests/<digest>]], #/identity, #/imports), so the registry serves
 * one index.html and no server-side routes.
 */
import "./styles.css";
import { credential, whenUnauthorized } from "./api.js";
import { h, show } from "./dom.js";
import { renderSignIn } from "./pages/sign-in.js";
import { renderFleet } from "./pages/fleet.js";
import { renderEdge } from "./pages/edge.js";
import { renderIdentity } from "./pages/identity.js";
import { renderImports } from "./pages/imports.js";
import { renderRepositories, renderRepository } from "./pages/repositories.js";
import { renderManifest } from "./pages/manifest.js";

/** What a page returns to stop its timers when the operator leaves it. */
export type Leave = () => void;

const app = document.getElementById("app")!;
let leave: Leave | undefined;

function route(): void {
  leave?.();
  leave = undefined;
  if (!credential.get()) {
    renderSignIn(app, undefined, () => navigate("#/fleet"));
    return;
  }
  const path = location.hash.replace(/^#/, "") || "/fleet";
  const main = h("main", { id: "main", tabindex: "-1" });
  show(app, header(path), main);
  const edge = /^\/edges\/([^/]+)$/.exec(path);
  const repository = /^\/repositories\/([^/]+)(?:\/manifests\/([^/]+))?$/.exec(path);
  if (edge) leave = renderEdge(main, decodeURIComponent(edge[1]!));
  else if (repository?.[2]) leave = renderManifest(main, decodeURIComponent(repository[1]!), decodeURIComponent(repository[2]));
  else if (repository) leave = renderRepository(main, decodeURIComponent(repository[1]!));
  else if (path === "/repositories") leave = renderRepositories(main);
  else if (path === "/identity") leave = renderIdentity(main);
  else if (path === "/imports") leave = renderImports(main);
  else leave = renderFleet(main);
}

function header(path: string): HTMLElement {
  const link = (href: string, label: string, active: boolean) => h("a", { href, ...(active ? { "aria-current": "page" } : {}) }, label);
  return h(
    "header",
    { class: "top" },
    h("a", { class: "skip", href: "#main", onclick: (event: Event) => {
      event.preventDefault();
      document.getElementById("main")?.focus();
    } }, "Skip to content"),
    h("span", { class: "brand" }, "Connected registry"),
    h(
      "nav",
      { "aria-label": "Console" },
      link("#/fleet", "Fleet", path === "/fleet" || path.startsWith("/edges/")),
      link("#/repositories", "Repositories", path.startsWith("/repositories")),
      link("#/identity", "Identity", path === "/identity"),
      link("#/imports", "Imports", path === "/imports"),
    ),
    h("button", { type: "button", class: "link", onclick: () => signOut() }, "Sign out"),
  );
}

function navigate(hash: string): void {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function signOut(reason?: string): void {
  leave?.();
  leave = undefined;
  credential.clear();
  renderSignIn(app, reason, () => route());
}

whenUnauthorized((message) => signOut(`Signed out: the management API refused the credential (${message}).`));
window.addEventListener("hashchange", route);
route();
