/**
 * The edge's identity store, read from the configuration its parent sent: the client
 * tokens (and the sync tokens of its children) with their scope maps and password
 * verifiers. It lets the shared token server and authorizer run unchanged at the edge,
 * offline. Tokens are managed in the cloud only, so every write is refused.
 */
import type { EdgeConfiguration, TokenWithScope } from "../../shared/sync/configuration.js";
import type { IdentityStore, IdentityUsage, ScopeMapRecord, StoredPassword, TokenRecord } from "../../shared/store/identity-store.js";

export class LocalIdentityStore implements IdentityStore {
  private tokens = new Map<string, TokenRecord>();
  private scopeMaps = new Map<string, ScopeMapRecord>();

  /**
   * Replaces what the store holds. `receivedAt` becomes every record's `updatedAt`, so
   * access tokens issued before a configuration change are refused and clients ask again
   * (a removed or disabled token stops working at once).
   */
  load(configuration: EdgeConfiguration | undefined, receivedAt: string): void {
    const tokens = new Map<string, TokenRecord>();
    const scopeMaps = new Map<string, ScopeMapRecord>();
    const add = (token: TokenWithScope | null): void => {
      if (!token) return;
      tokens.set(token.name, {
        name: token.name,
        scopeMap: token.scopeMap.name,
        status: token.status,
        passwords: token.passwordVerifiers.map(
          (verifier): StoredPassword => ({
            name: verifier.name as StoredPassword["name"],
            hash: verifier.hash,
            createdAt: receivedAt,
            ...(verifier.expiry ? { expiry: verifier.expiry } : {}),
          }),
        ),
        createdAt: receivedAt,
        updatedAt: receivedAt,
      });
      scopeMaps.set(token.scopeMap.name, { name: token.scopeMap.name, actions: token.scopeMap.actions, createdAt: receivedAt, updatedAt: receivedAt });
    };
    for (const token of configuration?.clientTokens ?? []) add(token);
    for (const child of configuration?.children ?? []) add(child.syncToken);
    this.tokens = tokens;
    this.scopeMaps = scopeMaps;
  }

  /** The child connected registry whose sync token this is. */
  childOf(tokenName: string, configuration: EdgeConfiguration | undefined): string | undefined {
    return configuration?.children.find((child) => child.syncToken?.name === tokenName)?.name;
  }

  async getScopeMap(name: string): Promise<ScopeMapRecord | undefined> {
    return this.scopeMaps.get(name);
  }
  async listScopeMaps(): Promise<ScopeMapRecord[]> {
    return [...this.scopeMaps.values()];
  }
  async getToken(name: string): Promise<TokenRecord | undefined> {
    return this.tokens.get(name);
  }
  async listTokens(): Promise<TokenRecord[]> {
    return [...this.tokens.values()];
  }
  async tokensUsingScopeMap(name: string): Promise<string[]> {
    return [...this.tokens.values()].filter((token) => token.scopeMap === name).map((token) => token.name);
  }
  async usage(): Promise<IdentityUsage> {
    return { scopeMaps: this.scopeMaps.size, tokens: this.tokens.size };
  }

  createScopeMap(): Promise<ScopeMapRecord> {
    return managedInTheCloud();
  }
  replaceScopeMap(): Promise<ScopeMapRecord> {
    return managedInTheCloud();
  }
  deleteScopeMap(): Promise<boolean> {
    return managedInTheCloud();
  }
  createToken(): Promise<TokenRecord> {
    return managedInTheCloud();
  }
  replaceToken(): Promise<TokenRecord> {
    return managedInTheCloud();
  }
  deleteToken(): Promise<boolean> {
    return managedInTheCloud();
  }
}

function managedInTheCloud(): never {
  throw new Error("tokens and scope maps of a connected registry are managed in the cloud registry, not at the edge");
}
