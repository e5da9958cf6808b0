/**
 * A scope map compiled for fast checks: "may this token do <action> on <repository>?"
 * answered with a few map lookups (one per path depth of the name), whatever the size of
 * the scope map, so a 500-action scope map with wildcards costs microseconds.
 */
import type { GatewayAction, RepositoryAction, ScopeMapAction } from "./scope-map-actions.js";

export class Permissions {
  /** Actions on exactly one repository. */
  private readonly exact = new Map<string, Set<RepositoryAction>>();
  /** Actions on every repository under a prefix ("a/b/" for the pattern "a/b/*"). */
  private readonly prefixes = new Map<string, Set<RepositoryAction>>();
  /** Actions on every repository ("*"). */
  private readonly everywhere = new Set<RepositoryAction>();
  /** Sync-protocol actions, by connected registry ("factory1" -> config/read, ...). */
  private readonly gateways = new Map<string, Set<GatewayAction>>();

  constructor(actions: readonly ScopeMapAction[]) {
    for (const entry of actions) {
      if (entry.kind === "gateway") {
        let set = this.gateways.get(entry.connectedRegistry);
        if (!set) this.gateways.set(entry.connectedRegistry, (set = new Set()));
        set.add(entry.action);
        continue;
      }
      if (entry.pattern === "*") this.everywhere.add(entry.action);
      else if (entry.pattern.endsWith("/*")) addTo(this.prefixes, entry.pattern.slice(0, -1), entry.action);
      else addTo(this.exact, entry.pattern, entry.action);
    }
  }

  allows(repository: string, action: RepositoryAction): boolean {
    if (this.everywhere.has(action) || this.exact.get(repository)?.has(action)) return true;
    if (this.prefixes.size === 0) return false;
    for (let slash = repository.indexOf("/"); slash >= 0; slash = repository.indexOf("/", slash + 1)) {
      if (this.prefixes.get(repository.slice(0, slash + 1))?.has(action)) return true;
    }
    return false;
  }

  allowsGateway(connectedRegistry: string, action: GatewayAction): boolean {
    return this.gateways.get(connectedRegistry)?.has(action) ?? false;
  }

  /** Whether anything at all may be read from the repository (for the catalog). */
  mayRead(repository: string): boolean {
    return this.allows(repository, "content/read") || this.allows(repository, "metadata/read");
  }
}

function addTo(map: Map<string, Set<RepositoryAction>>, key: string, action: RepositoryAction): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(action);
}
