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
