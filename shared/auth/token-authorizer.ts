/**
 * Authorization on /v2/ from bearer tokens (issued by our token server) or Basic
 * credentials sent straight to the registry. Failures carry the challenge Docker clients
 * follow: `WWW-Authenticate: Bearer realm=...,service=...,scope=...` for exactly what the
 * request needs.
 */
import { covers, formatScope, grantAccess, type AccessEntry } from "../domain/docker-scope.js";
import type { HandlerRequest } from "../http/types.js";
import { RegistryError } from "../registry/errors.js";
import type { Authorizer, Principal } from "./authorizer.js";

import { parseBasic } from "./basic-credentials.js";
import type { AccessClaims, TokenIssuer } from "./jwt.js";
import type { PasswordLogin } from "./password-login.js";
import { serviceIdentity } from "./service-name.js";
import type { TokenDirectory, TokenState } from "./token-directory.js";

export interface TokenAuthorizerOptions {
  loginServer: string | undefined;
  /** Anonymous clients may pull (and list what they may pull), as ACR's anonymous pull. */
  anonymousPull: boolean;
}

/** Verified access tokens, kept until they expire: verifying ES256 costs ~80 µs, a lookup far less. */
const MAX_CACHED_TOKENS = 10_000;

export class TokenAuthorizer implements Authorizer {
  private readonly verified = new Map<string, AccessClaims>();

  constructor(
    private readonly directory: TokenDirectory,
    private readonly issuer: TokenIssuer,
    private readonly options: TokenAuthorizerOptions,
    private readonly login: PasswordLogin,
  ) {}

  async authorize(request: HandlerRequest, needed: AccessEntry[]): Promise<Principal> {
    const header = request.headers.get("authorization");
    if (!header) {
      if (this.options.anonymousPull && needed.every(isPullOnly)) return { mayRead: () => this.options.anonymousPull };
      throw this.challenge(request, needed, "authentication required");
    }
    if (/^bearer /i.test(header)) return this.authorizeBearer(request, header.slice(7).trim(), needed);
    const basic = parseBasic(header);
    if (basic) return this.authorizeBasic(request, basic.username, basic.password, needed);
    throw this.challenge(request, needed, "unsupported Authorization scheme: use Bearer or Basic");
  }

  private async authorizeBearer(request: HandlerRequest, token: string, needed: AccessEntry[]): Promise<Principal> {
    const { service } = serviceIdentity(request, this.options.loginServer);
    const claims = this.verify(token, service);
    if (!claims) throw this.challenge(request, needed, "invalid or expired access token", "invalid_token");
    const state = await this.directory.get(claims.sub);
    if (!state || state.token.status !== "enabled" || state.changedAt > claims.ver) {
      // The token was disabled, deleted, or it or its scope map changed since this grant.
      throw this.challenge(request, needed, "the access token's grant is no longer current; request a new one", "invalid_token");
    }
    if (!covers(claims.access, needed)) {
      throw new RegistryError("DENIED", `the access token does not grant ${needed.map(formatScope).join(" ")}`, {
        detail: needed,
      });
    }
    return principalOf(state);
  }

  private async authorizeBasic(request: HandlerRequest, username: string, password: string, needed: AccessEntry[]): Promise<Principal> {
    const check = await this.login.check(username, password, request.clientAddress, false);
    if (!check.ok && (check.reason === "throttled" || check.reason === "busy")) {
      throw new RegistryError("TOOMANYREQUESTS", check.message, { headers: { "Retry-After": String(check.retryAfterSeconds) } });
    }
    if (!check.ok) throw this.challenge(request, needed, check.message);
    if (!covers(grantAccess(needed, check.state.permissions), needed)) {
      throw new RegistryError("DENIED", `token "${username}" may not ${needed.map(formatScope).join(" ")}`, { detail: needed });
    }
    return principalOf(check.state);
  }

  private verify(token: string, service: string): AccessClaims | undefined {
    const cached = this.verified.get(token);
    const nowSeconds = Date.now() / 1000;
    if (cached) {
      if (cached.exp > nowSeconds && cached.aud === service) return cached;
      this.verified.delete(token);
      return undefined;
    }
    try {
      const claims = this.issuer.verifyAccess(token, service);
      if (this.verified.size >= MAX_CACHED_TOKENS) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, claims);
      return claims;
    } catch {
      return undefined;
    }
  }

  private challenge(request: HandlerRequest, needed: AccessEntry[], message: string, error?: string): RegistryError {
    const { service, realm } = serviceIdentity(request, this.options.loginServer);
    const scopes = needed.map((entry) => formatScope(challengeEntry(entry))).join(" ");
    const parts = [`realm="${realm}"`, `service="${service}"`];
    if (scopes) parts.push(`scope="${scopes}"`);
    if (error) parts.push(`error="${error}"`);
    return new RegistryError("UNAUTHORIZED", message, { headers: { "WWW-Authenticate": `Bearer ${parts.join(",")}` } });
  }
}

function principalOf(state: TokenState): Principal {
  return { mayRead: (repository) => state.permissions.mayRead(repository), tokenName: state.token.name };
}

function isPullOnly(entry: AccessEntry): boolean {
  return entry.type === "registry" || entry.actions.every((action) => action === "pull");
}

/** Docker clients ask for pull with push: a push checks what is there first. */
function challengeEntry(entry: AccessEntry): AccessEntry {
  if (entry.type === "repository" && entry.actions.includes("push") && !entry.actions.includes("pull")) {
    return { ...entry, actions: ["pull", ...entry.actions] };
  }
  return entry;
}

