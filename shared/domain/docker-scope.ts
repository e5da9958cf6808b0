/**
 * Docker token-auth scopes ("repository:<name>:pull,push", "registry:catalog:*") and how
 * they map onto scope-map actions. The token server grants the intersection of what is
 * asked and what the scope map allows; asking for too much is never an error.
 */
import { isValidRepositoryName } from "./names.js";
import type { Permissions } from "./permissions.js";
import type { GatewayAction, RepositoryAction } from "./scope-map-actions.js";

export const DOCKER_REPOSITORY_ACTIONS = ["pull", "push", "delete", "metadata_read", "metadata_write"] as const;
export type DockerRepositoryAction = (typeof DOCKER_REPOSITORY_ACTIONS)[number];

/** The sync protocol's actions on a connected registry's gateway (docs/sync-protocol.md). */
export const DOCKER_GATEWAY_ACTIONS = ["config_read", "config_write", "message_read", "message_write"] as const;
export type DockerGatewayAction = (typeof DOCKER_GATEWAY_ACTIONS)[number];

/** One entry of a scope, and of a JWT's `access` claim. */
export type AccessEntry =
  | { type: "repository"; name: string; actions: DockerRepositoryAction[] }
  | { type: "registry"; name: "catalog"; actions: ["*"] }
  | { type: "gateway"; name: string; actions: DockerGatewayAction[] };

const gatewayActionFor: Record<DockerGatewayAction, GatewayAction> = {
  config_read: "config/read",
  config_write: "config/write",
  message_read: "message/read",
  message_write: "message/write",
};

const scopeMapActionFor: Record<DockerRepositoryAction, RepositoryAction> = {
  pull: "content/read",
  push: "content/write",
  delete: "content/delete",
  metadata_read: "metadata/read",
  metadata_write: "metadata/write",
};

export class ScopeParseError extends Error {}

/**
 * Parses the `scope` parameters of a token request (each may hold several scopes
 * separated by spaces). The name may itself contain ":", so type and actions are read
 * from the two ends.
 */
export function parseDockerScopes(values: readonly string[]): AccessEntry[] {
  const entries: AccessEntry[] = [];
  for (const scope of values.flatMap((value) => value.split(" ")).filter((s) => s.length > 0)) {
    const first = scope.indexOf(":");
    const last = scope.lastIndexOf(":");
    if (first <= 0 || last === first) throw new ScopeParseError(`invalid scope "${scope}": expected <type>:<name>:<actions>`);
    const type = scope.slice(0, first);
    const name = scope.slice(first + 1, last);
    const actions = scope.slice(last + 1).split(",");
    if (type === "registry" && name === "catalog") {
      entries.push({ type: "registry", name: "catalog", actions: ["*"] });
    } else if (type === "gateway") {
      const known = actions.filter((action): action is DockerGatewayAction => (DOCKER_GATEWAY_ACTIONS as readonly string[]).includes(action));
      entries.push({ type: "gateway", name, actions: known });
    } else if (type === "repository" || type === "repository(plugin)") {
      if (!isValidRepositoryName(name)) throw new ScopeParseError(`invalid scope "${scope}": "${name}" is not a repository name`);
      const known = actions.includes("*") ? [...DOCKER_REPOSITORY_ACTIONS] : actions.filter(isDockerRepositoryAction);
      entries.push({ type: "repository", name, actions: known });
    }
    // Other resource types are not ours to grant: they get nothing, silently, as asked-for-too-much does.
  }
  return entries;
}

function isDockerRepositoryAction(value: string): value is DockerRepositoryAction {
  return (DOCKER_REPOSITORY_ACTIONS as readonly string[]).includes(value);
}

/** What of `requested` the permissions allow; entries that end up empty are dropped. */
export function grantAccess(requested: readonly AccessEntry[], permissions: Permissions): AccessEntry[] {
  const granted: AccessEntry[] = [];
  for (const entry of requested) {
    if (entry.type === "registry") {
      // Every token may ask for the catalog; the catalog then lists only what it may read.
      granted.push(entry);
      continue;
    }
    if (entry.type === "gateway") {
      const actions = entry.actions.filter((action) => permissions.allowsGateway(entry.name, gatewayActionFor[action]));
      if (actions.length > 0) granted.push({ type: "gateway", name: entry.name, actions: [...new Set(actions)] });
      continue;
    }
    const actions = entry.actions.filter((action) => permissions.allows(entry.name, scopeMapActionFor[action]));
    if (actions.length > 0) granted.push({ type: "repository", name: entry.name, actions: [...new Set(actions)] });
  }
  return mergeEntries(granted);
}

/** Whether a set of granted entries covers every action of `needed`. */
export function covers(granted: readonly AccessEntry[], needed: readonly AccessEntry[]): boolean {
  return needed.every((want) =>
    want.actions.every((action) =>
      granted.some((have) => have.type === want.type && have.name === want.name && (have.actions as readonly string[]).includes(action)),
    ),
  );
}

/** The scope string for a WWW-Authenticate challenge or a token request. */
export function formatScope(entry: AccessEntry): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(",")}`;
}

function mergeEntries(entries: AccessEntry[]): AccessEntry[] {
  const byKey = new Map<string, AccessEntry>();
  for (const entry of entries) {
    const key = `${entry.type}:${entry.name}`;
    const existing = byKey.get(key);
    if (!existing) byKey.set(key, { ...entry, actions: [...entry.actions] } as AccessEntry);
    else for (const action of entry.actions) if (!(existing.actions as string[]).includes(action)) (existing.actions as string[]).push(action);
  }
  return [...byKey.values()];
}
