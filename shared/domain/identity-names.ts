import { z } from "zod";

/** Names of scope maps and tokens: 5-50 letters, digits, "-" and "_", as ACR allows. */
const identityName = /^[a-zA-Z0-9_-]{5,50}$/;

export function isValidIdentityName(name: string): boolean {
  return identityName.test(name);
}

/** Built-in scope maps: present in every registry, never changed or deleted. */
export const SYSTEM_SCOPE_MAPS = {
  _repositories_pull: { description: "Can pull any repository of the registry", actions: ["repositories/*/content/read", "repositories/*/metadata/read"] },
  _repositories_push: {
    description: "Can push to any repository of the registry",
    actions: ["repositories/*/content/read", "repositories/*/content/write", "repositories/*/metadata/read"],
  },
  _repositories_admin: {
    description: "Can perform all read, write and delete operations on the registry",
    actions: [
      "repositories/*/content/read",
      "repositories/*/content/write",
      "repositories/*/content/delete",
      "repositories/*/metadata/read",
      "repositories/*/metadata/write",
    ],
  },
} as const;

export type SystemScopeMapName = keyof typeof SYSTEM_SCOPE_MAPS;

export function isSystemScopeMap(name: string): name is SystemScopeMapName {
  return Object.hasOwn(SYSTEM_SCOPE_MAPS, name);
}

/** The registry's limits, as ACR documents them. */
export const LIMITS = {
  actionsPerScopeMap: 500,
  scopeMapsPerRegistry: 20_000,
  tokensPerRegistry: 20_000,
} as const;

/**
 * Whether a name could be that of a stored scope map: a user's (5-50 characters), a system one,
 * or one the registry made, which adds "-scope-map" (10) to a token's name or
 * "-sync-scope-map" to a connected registry's. Anything else names nothing, and must not reach
 * the store: Cosmos DB refuses "/", "\" and "#" in ids outright.
 */
export function isScopeMapReference(name: string): boolean {
  return /^[a-zA-Z0-9_-]{5,60}$/.test(name);
}

/** Whether a name could be that of a stored token (generated sync-token names stay within 50 too). */
export function isTokenReference(name: string): boolean {
  return isValidIdentityName(name);
}

/** A body's reference to an existing scope map or token: refused (400) when it cannot name one. */
export const scopeMapReferenceSchema = z
  .string()
  .refine(isScopeMapReference, { error: (issue) => `"${String(issue.input)}" cannot name a scope map: use 5-60 letters, digits, - and _` });
export const tokenReferenceSchema = z
  .string()
  .refine(isTokenReference, { error: (issue) => `"${String(issue.input)}" cannot name a token: use 5-50 letters, digits, - and _` });
