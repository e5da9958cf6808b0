/**
 * Looks up a token and what its scope map allows, for the checks on every /v2/ request.
 * Entries are cached for `ttlMs`: that is the bound on how long a disabled token, a
 * changed scope map or a regenerated password can still be used on an instance that
 * already looked it up (documented in docs/identity.md). The token server reads fresh.
 */
import { createHash } from "node:crypto";
import { SYSTEM_SCOPE_MAPS, isSystemScopeMap } from "../domain/identity-names.js";
import { Permissions } from "../domain/permissions.js";
import { parseScopeMapAction, type ScopeMapAction } from "../domain/scope-map-actions.js";
import type { IdentityStore, PasswordName, StoredPassword, TokenRecord } from "../store/identity-store.js";
import { verifyPassword } from "./passwords.js";

export interface TokenState {
  token: TokenRecord;
  permissions: Permissions;
  /**
   * When the token or its scope map last changed (ms since epoch). Access tokens carry the
   * value they were issued under (`ver`); one issued under an older value is stale.
   */
  changedAt: number;
}

export type CredentialCheck =
  | { ok: true; state: TokenState; password: StoredPassword }
  | { ok: false; reason: "unknown" | "disabled" | "expired" | "wrong-password"; message: string };

export interface TokenDirectoryOptions {
  /**
   * How a password is checked against a stored hash: the password-check pool in the
   * registry and the edge (bounded, off libuv's pool), verifyPassword by default.
   */
  verify?: (password: string, stored: string) => Promise<boolean>;
  /** How long a refused name/password pair is refused again without scrypt (0: not at all). */
  refusedPairMs?: number;
  /**
   * What to say of a token name the store does not have: at an edge that has not activated
   * yet, no token is known, and "does not exist" would point the wrong way.
   */
  unknownTokenMessage?: (name: string) => string;
}

/**
 * A refusal from a cached state is confirmed against the store, at most this often per
 * name: a password generated a moment ago (a new child right after get-settings) is then
 * accepted at once instead of after TOKEN_STATE_SECONDS, while a flood of wrong passwords
 * costs one store read per name per second, not one per attempt.
 */
const RECHECK_REFUSAL_MS = 1000;

export class TokenDirectory {
  private readonly states = new Map<string, { state: TokenState | undefined; until: number }>();
  /** sha256(stored hash, password) of pairs that verified: scrypt once per password, not per request. */
  private readonly verifiedPairs = new Set<string>();
  /**
   * The same key for pairs that did not verify, with when that answer expires: a client
   * retrying a wrong password (or a script replaying one) costs a lookup, not scrypt. Short,
   * because nothing else needs it to be long; keyed by the stored hash, so a new password
   * is never refused from here.
   */
  private readonly refusedPairs = new Map<string, number>();
  private readonly verify: (password: string, stored: string) => Promise<boolean>;
  private readonly refusedPairMs: number;
  private readonly unknownTokenMessage: (name: string) => string;
  /** When a refusal was last confirmed against the store, by name. */
  private readonly rechecked = new Map<string, number>();
  /**
   * Compiled scope maps, by name and last change: tokens on the same scope map share one
   * (a 500-action map compiles in ~0.7 ms and holds ~40 KiB).
   */
  private readonly compiled = new Map<string, Permissions>();

  constructor(
    private readonly store: IdentityStore,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    options: TokenDirectoryOptions = {},
  ) {
    this.verify = options.verify ?? verifyPassword;
    this.refusedPairMs = options.refusedPairMs ?? 0;
    this.unknownTokenMessage = options.unknownTokenMessage ?? ((name) => `token "${name}" does not exist in this registry`);
  }

  /** The token's state, from the cache if fresh enough. */
  async get(name: string): Promise<TokenState | undefined> {
    const cached = this.states.get(name);
    if (cached && cached.until > this.now()) return cached.state;
    return this.load(name);
  }

  /** The token's state read from the store now (the token server always does this). */
  async load(name: string): Promise<TokenState | undefined> {
    const token = await this.store.getToken(name);
    const state = token ? await this.stateOf(token) : undefined;
    if (this.states.size > 50_000) this.states.clear();
    this.states.set(name, { state, until: this.now() + this.ttlMs });
    return state;
  }

  async checkCredentials(name: string, password: string, fresh: boolean): Promise<CredentialCheck> {
    const cached = fresh ? undefined : this.states.get(name);
    const answer = await this.check(name, password, fresh ? await this.load(name) : await this.get(name));
    if (answer.ok || fresh || !cached || cached.until <= this.now()) return answer;
    // Refused from a cached state, which may predate a password just generated or a token just created.
    const last = this.rechecked.get(name) ?? 0;
    if (this.now() - last < RECHECK_REFUSAL_MS) return answer;
    if (this.rechecked.size > 50_000) this.rechecked.clear();
    this.rechecked.set(name, this.now());
    return this.check(name, password, await this.load(name));
  }

  private async check(name: string, password: string, state: TokenState | undefined): Promise<CredentialCheck> {
    // The same answer for "no such token" and "wrong password" would hide which names
    // exist, but ACR says which; an operator needs to know a token is gone.
    if (!state) return { ok: false, reason: "unknown", message: this.unknownTokenMessage(name) };
    if (state.token.status !== "enabled") return { ok: false, reason: "disabled", message: `token "${name}" is disabled` };
    let expired: StoredPassword | undefined;
    for (const stored of state.token.passwords) {
      if (!(await this.matches(stored, password))) continue;
      if (stored.expiry && Date.parse(stored.expiry) <= this.now()) {
        expired = stored;
        continue;
      }
      return { ok: true, state, password: stored };
    }
    if (expired) {
      return { ok: false, reason: "expired", message: `the ${expired.name} of token "${name}" expired at ${expired.expiry}; generate a new one` };
    }
    return { ok: false, reason: "wrong-password", message: `wrong password for token "${name}"` };
  }

  findPassword(state: TokenState, name: PasswordName): StoredPassword | undefined {
    return state.token.passwords.find((p) => p.name === name);
  }

  private async matches(stored: StoredPassword, password: string): Promise<boolean> {
    const pair = createHash("sha256").update(stored.hash).update("\0").update(password).digest("base64");
    if (this.verifiedPairs.has(pair)) return true;
    const refusedUntil = this.refusedPairs.get(pair);
    if (refusedUntil !== undefined) {
      if (refusedUntil > this.now()) return false;
      this.refusedPairs.delete(pair);
    }
    if (!(await this.verify(password, stored.hash))) {
      if (this.refusedPairMs > 0) {
        if (this.refusedPairs.size > 50_000) this.refusedPairs.clear();
        this.refusedPairs.set(pair, this.now() + this.refusedPairMs);
      }
      return false;
    }
    if (this.verifiedPairs.size > 50_000) this.verifiedPairs.clear();
    this.verifiedPairs.add(pair);
    return true;
  }

  private async stateOf(token: TokenRecord): Promise<TokenState> {
    let actions: readonly string[] = [];
    let scopeMapChanged = 0;
    if (isSystemScopeMap(token.scopeMap)) {
      actions = SYSTEM_SCOPE_MAPS[token.scopeMap].actions;
    } else {
      const scopeMap = await this.store.getScopeMap(token.scopeMap);
      actions = scopeMap?.actions ?? [];
      scopeMapChanged = scopeMap ? Date.parse(scopeMap.updatedAt) : 0;
    }
    return { token, permissions: this.compile(token.scopeMap, scopeMapChanged, actions), changedAt: Math.max(Date.parse(token.updatedAt), scopeMapChanged) };
  }

  private compile(scopeMap: string, changedAt: number, actions: readonly string[]): Permissions {
    const key = `${scopeMap}@${changedAt}`;
    let permissions = this.compiled.get(key);
    if (!permissions) {
      const parsed = actions.map(parseScopeMapAction).flatMap((r) => (r.ok ? [r.action] : [])) as ScopeMapAction[];
      permissions = new Permissions(parsed);
      if (this.compiled.size > 20_000) this.compiled.clear();
      this.compiled.set(key, permissions);
    }
    return permissions;
  }
}
