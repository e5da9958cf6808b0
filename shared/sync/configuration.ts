/**
 * What an edge needs to run on its own (docs/sync-protocol.md, section 2): its settings,
 * its children with their sync tokens' password verifiers, and its client tokens with
 * their scope maps and password verifiers. Verifiers are the salted hashes the registry
 * stores; no password ever travels.
 */
import { createHash } from "node:crypto";
import { garbageCollectionOf, syncBandwidthOf } from "../domain/connected-registry/index.js";
import type { RepositoryFilter } from "../domain/connected-registry/index.js";
import { SYSTEM_SCOPE_MAPS, isSystemScopeMap } from "../domain/identity-names.js";
import type { ConnectedRegistryRecord, ConnectedRegistryStore } from "../store/connected-registry-store.js";
import type { IdentityStore, TokenRecord } from "../store/identity-store.js";

export interface TokenForEdge {
  name: string;
  status: TokenRecord["status"];
  passwordVerifiers: Array<{ name: string; hash: string; expiry: string | null }>;
}

export type TokenWithScope = TokenForEdge & { scopeMap: { name: string; actions: string[] } };

export interface EdgeConfiguration {
  name: string;
  mode: ConnectedRegistryRecord["mode"];
  parent: string | null;
  repositories: string[];
  schedule: string;
  syncWindow: string | null;
  messageTtl: string;
  logging: ConnectedRegistryRecord["logging"];
  /**
   * Garbage collection at the edge (docs/edge-agent.md): whether it runs and when (5-field
   * cron, UTC). Absent from parents older than this field: the edge then uses its default.
   */
  garbageCollection?: { enabled: boolean; schedule: string };
  /** The most the edge may use for syncing (downloads and upstream pushes together), as parseBandwidth reads it; null for no cap. */
  syncBandwidth?: string | null;
  /**
   * The operator's latest resync request (an id, changed by each `connected-registry resync`);
   * the edge runs a full sync when it differs from the last one it carried out.
   */
  resync?: string | null;
  /**
   * The connected registry's notification patterns (`repo:tag:action`): the edge reports
   * images that arrive or leave and match one (docs/events.md). Absent when there are none.
   */
  notifications?: string[];
  /**
   * Tag and platform filters per repository in scope (docs/edge-agent.md "Filters"): the edge
   * keeps only matching tags and fetches only the chosen platforms of an index. Absent when none.
   */
  repositoryFilters?: RepositoryFilter[];
  /** Children with their sync tokens, so the edge can authenticate them and authorize their pulls and pushes offline. */
  children: Array<{ name: string; mode: ConnectedRegistryRecord["mode"]; syncToken: TokenWithScope | null }>;
  clientTokens: TokenWithScope[];
  /** Changes whenever anything above changes: the feed carries it so the edge knows to re-read. */
  version: string;
}

export async function configurationOf(record: ConnectedRegistryRecord, registries: ConnectedRegistryStore, identity: IdentityStore): Promise<EdgeConfiguration> {
  const childViewsOf = async (): Promise<EdgeConfiguration["children"]> => {
    const children = await registries.listChildren(record.name);
    return Promise.all(children.map(async (child) => ({ name: child.name, mode: child.mode, syncToken: (await tokenWithScope(child.syncToken, identity)) ?? null })));
  };
  // The children and the client tokens are independent reads: made at once.
  const [childViews, clientTokenViews] = await Promise.all([childViewsOf(), Promise.all(record.clientTokens.map((name) => tokenWithScope(name, identity)))]);
  const clientTokens = clientTokenViews.filter((token) => token !== undefined);
  const body = {
    name: record.name,
    mode: record.mode,
    parent: record.parent ?? null,
    repositories: record.repositories,
    schedule: record.schedule,
    syncWindow: record.syncWindow ?? null,
    messageTtl: record.messageTtl,
    logging: record.logging,
    // Part of the version: changing any of them makes the edge read the configuration again.
    garbageCollection: garbageCollectionOf(record.garbageCollection),
    syncBandwidth: syncBandwidthOf(record.syncBandwidth),
    resync: record.resync ?? null,
    // Only when set, so the version of a registry without notifications stays what it was.
    ...(record.notifications.length > 0 ? { notifications: record.notifications } : {}),
    // Only when set (version unchanged otherwise); a filter of a repository that left the scope is dropped.
    ...filtersInScope(record),
    children: childViews,
    clientTokens,
  };
  return { ...body, version: createHash("sha256").update(JSON.stringify(body)).digest("base64url").slice(0, 22) };
}

async function tokenWithScope(name: string, identity: IdentityStore): Promise<TokenWithScope | undefined> {
  const token = await identity.getToken(name);
  if (!token) return undefined;
  const actions = isSystemScopeMap(token.scopeMap) ? [...SYSTEM_SCOPE_MAPS[token.scopeMap].actions] : ((await identity.getScopeMap(token.scopeMap))?.actions ?? []);
  return { ...tokenForEdge(token)!, scopeMap: { name: token.scopeMap, actions } };
}

function tokenForEdge(token: TokenRecord | undefined): TokenForEdge | null {
  if (!token) return null;
  return {
    name: token.name,
    status: token.status,
    passwordVerifiers: token.passwords.map((p) => ({ name: p.name, hash: p.hash, expiry: p.expiry ?? null })),
  };
}

function filtersInScope(record: ConnectedRegistryRecord): { repositoryFilters?: RepositoryFilter[] } {
  const filters = (record.repositoryFilters ?? []).filter((filter) => record.repositories.includes(filter.repository));
  return filters.length > 0 ? { repositoryFilters: filters } : {};
}
