/**
 * What the identity side (scope maps, tokens, their limits) needs from storage. The
 * limits are enforced here, atomically, because only the store can make "count and
 * create" safe against concurrent callers.
 */

export interface ScopeMapRecord {
  name: string;
  description?: string;
  /** Actions as written: "repositories/hello-world/content/read". */
  actions: string[];
  createdAt: string;
  updatedAt: string;
  /** Opaque concurrency token for `replaceScopeMap`. */
  version?: string;
}

export type PasswordName = "password1" | "password2";

export interface StoredPassword {
  name: PasswordName;
  /** Salted hash (shared/auth/passwords.ts: sha256$..., or scrypt$... from before); the password itself is never stored. */
  hash: string;
  createdAt: string;
  expiry?: string;
}

export type TokenStatus = "enabled" | "disabled";

export interface TokenRecord {
  name: string;
  scopeMap: string;
  status: TokenStatus;
  passwords: StoredPassword[];
  createdAt: string;
  updatedAt: string;
  version?: string;
}

export class LimitExceededError extends Error {
  constructor(
    readonly limit: "scopeMapsPerRegistry" | "tokensPerRegistry",
    message: string,
  ) {
    super(message);
  }
}

export class AlreadyExistsError extends Error {}

export interface IdentityUsage {
  scopeMaps: number;
  tokens: number;
}

export interface IdentityStore {
  getScopeMap(name: string): Promise<ScopeMapRecord | undefined>;
  listScopeMaps(): Promise<ScopeMapRecord[]>;
  /** Creates it if fewer than `limit` exist; throws LimitExceededError or AlreadyExistsError. */
  createScopeMap(record: ScopeMapRecord, limit: number): Promise<ScopeMapRecord>;
  /** Replaces it if unchanged since read (its `version`); throws ConcurrentUpdateError. */
  replaceScopeMap(record: ScopeMapRecord): Promise<ScopeMapRecord>;
  deleteScopeMap(name: string): Promise<boolean>;
  /** Tokens that use the scope map (a scope map in use cannot be deleted). */
  tokensUsingScopeMap(name: string): Promise<string[]>;

  getToken(name: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  createToken(record: TokenRecord, limit: number): Promise<TokenRecord>;
  replaceToken(record: TokenRecord): Promise<TokenRecord>;
  deleteToken(name: string): Promise<boolean>;

  usage(): Promise<IdentityUsage>;
}
