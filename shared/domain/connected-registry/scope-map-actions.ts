/**
 * The actions of a connected registry's sync scope map: what its sync token may do at
 * its parent. Written in the scope-map action format of ../scope-map-actions.ts.
 *
 * A parent fetches on behalf of its children, so each ancestor's sync scope map also
 * holds every descendant's repository and gateway actions. Several registries in a tree
 * may need the same action (a parent and its child both syncing "app"), so removing a
 * registry strips only what nobody left in that ancestor's subtree still needs.
 */
import { isValidRepositoryName } from "../names.js";
import { formatScopeMapAction, type GatewayAction, type RepositoryAction } from "../scope-map-actions.js";
import type { ConnectedRegistryMode } from "./names-and-modes.js";

/** What a connected registry syncs: enough to derive its sync scope map. */
export interface SyncScope {
  name: string;
  mode: ConnectedRegistryMode;
  repositories: readonly string[];
}

export const READ_ONLY_REPOSITORY_ACTIONS = ["content/read", "metadata/read"] as const satisfies readonly RepositoryAction[];
/** ReadWrite adds what upstream push needs: writing content and tags, and deleting what was deleted at the edge. */
export const READ_WRITE_REPOSITORY_ACTIONS = [
  ...READ_ONLY_REPOSITORY_ACTIONS,
  "content/write",
  "content/delete",
  "metadata/write",
] as const satisfies readonly RepositoryAction[];
/** The handshake reads and reports configuration; the change feed and status travel as messages. */
export const SYNC_GATEWAY_ACTIONS = ["config/read", "config/write", "message/read", "message/write"] as const satisfies readonly GatewayAction[];

export type RepositoriesCheck = { ok: true; repositories: string[] } | { ok: false; message: string };

/** Checks the repositories a connected registry syncs (plain names, no wildcards) and drops duplicates. */
export function validateSyncRepositories(repositories: readonly string[]): RepositoriesCheck {
  const invalid = repositories.filter((repository) => !isValidRepositoryName(repository));
  if (invalid.length > 0) {
    return { ok: false, message: `invalid repository name${invalid.length > 1 ? "s" : ""} ${invalid.map((name) => `"${name}"`).join(", ")}` };
  }
  return { ok: true, repositories: [...new Set(repositories)] };
}

export function repositoryActionsFor(mode: ConnectedRegistryMode, repositories: readonly string[]): string[] {
  const verbs = mode === "ReadOnly" ? READ_ONLY_REPOSITORY_ACTIONS : READ_WRITE_REPOSITORY_ACTIONS;
  return unique(
    repositories.flatMap((pattern) => verbs.map((action) => formatScopeMapAction({ kind: "repository", pattern, action }))),
  );
}

export function gatewayActionsFor(connectedRegistry: string): string[] {
  return SYNC_GATEWAY_ACTIONS.map((action) => formatScopeMapAction({ kind: "gateway", connectedRegistry, action }));
}

/** The connected registry's own sync scope map actions: its repositories, then its gateway. */
export function syncScopeMapActions(registry: SyncScope): string[] {
  return unique([...repositoryActionsFor(registry.mode, registry.repositories), ...gatewayActionsFor(registry.name)]);
}

/**
 * What to add to the sync scope map of every ancestor of `child` when it is created (or
 * gains repositories): the child's repository actions, in the child's mode, and its
 * gateway actions, so the ancestor may fetch and relay what the child needs.
 */
export function actionsForAncestors(child: SyncScope): string[] {
  return syncScopeMapActions(child);
}

/** Everything a registry's sync scope map must hold: its own actions and those of every descendant. */
export function requiredSyncScopeMapActions(registry: SyncScope, descendants: readonly SyncScope[]): string[] {
  return unique([registry, ...descendants].flatMap(syncScopeMapActions));
}

/**
 * What to strip from an ancestor's sync scope map when `removed` is deleted: its actions,
 * less those the ancestor still needs for itself or for the descendants it keeps.
 */
export function actionsToStripFromAncestor(ancestor: SyncScope, removed: SyncScope, remainingDescendants: readonly SyncScope[]): string[] {
  const stillNeeded = new Set(requiredSyncScopeMapActions(ancestor, remainingDescendants.filter((scope) => scope.name !== removed.name)));
  return actionsForAncestors(removed).filter((action) => !stillNeeded.has(action));
}

function unique(actions: readonly string[]): string[] {
  return [...new Set(actions)];
}
