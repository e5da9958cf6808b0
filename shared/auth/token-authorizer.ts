/**
 * Authorization on /v2/ from bearer tokens (issued by our token server) or Basic
 * credentials sent straight to the registry. Failures carry the challenge Docker clients
 * follow: `WWW-Authenticate: Bearer realm=...,service=...,scope=...` for exactly what the
 * request needs (plus `error="invalid_token"` or `error="insufficient_scope"` for a bearer
 * token that is not good enough). Only Basic credentials get 403 DENIED.
 */
import { covers, formatScope, grantAccess, type AccessEntry } from "../domain/docker-scope.js";
import type { HandlerRequest } from "../http/types.js";
import { RegistryError } from "../domain/registry-errors.js";
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

  async authorize(request: HandlerRequest, needed: AccessEntry[], optional: AccessEntry[] = []): Promise<Principal> {
    const header = request.headers.get("authorization");
    if (!header) {
      if (this.options.anonymousPull && needed.every(isPullOnly)) {
        return { mayRead: () => this.options.anonymousPull, optionalGranted: optional.filter(isPullOnly) };
      }
      throw this.challenge(request, needed, optional, "authentication required");
    }
    if (/^bearer /i.test(header)) return this.authorizeBearer(request, header.slice(7).trim(), needed, optional);
    const basic = parseBasic(header);
    if (basic) return this.authorizeBasic(request, basic.username, basic.password, needed, optional);
    throw this.challenge(request, needed, optional, "unsupported Authorization scheme: use Bearer or Basic");
  }

  private async authorizeBearer(request: HandlerRequest, token: string, needed: AccessEntry[], optional: AccessEntry[]): Promise<Principal> {
    const { service } = serviceIdentity(request, this.options.loginServer);
    const claims = this.verify(token, service);
    if (!claims) throw this.challenge(request, needed, optional, "invalid or expired access token", "invalid_token");
    const state = await this.directory.get(claims.sub);
    if (!state || state.token.status !== "enabled" || state.changedAt > claims.ver) {
      // The token was disabled, deleted, or it or its scope map changed since this grant.
      throw this.challenge(request, needed, optional, "the access token's grant is no longer current; request a new one", "invalid_token");
    }
    // Docker's token spec (and distribution): a valid token without the scope gets 401 with
    // error="insufficient_scope" naming what is needed, not 403, so the client asks the token
    // server again for that scope; the token server grants only what the scope map allows.
    const missing = needed.filter((entry) => !covers(claims.access, [entry]));
    if (missing.length > 0) {
      const scopes = missing.map(formatScope).join(" ");
      const message = covers(grantAccess(missing, state.permissions), missing)
        ? `the access token does not grant ${scopes}; request a token with that scope`
        : `the access token does not grant ${scopes}, and token "${state.token.name}" may not have it: its scope map does not allow it`;
      throw this.challenge(request, needed, optional, message, "insufficient_scope", missing);
    }
    // An optional access is worth a challenge only when the token may have it: following the
    // challenge then gains something (a mount instead of an upload); otherwise the request
    // goes on without it.
    const obtainable = optional.filter((entry) => !covers(claims.access, [entry]) && covers(grantAccess([entry], state.permissions), [entry]));
    if (obtainable.length > 0) {
      const scopes = obtainable.map(formatScope).join(" ");
      throw this.challenge(request, needed, optional, `the access token does not grant ${scopes}, which this request can use; request a token with that scope too`, "insufficient_scope", obtainable);
    }
    return principalOf(state, optional.filter((entry) => covers(claims.access, [entry])));
  }

  private async authorizeBasic(request: HandlerRequest, username: string, password: string, needed: AccessEntry[], optional: AccessEntry[]): Promise<Principal> {
    const check = await this.login.check(username, password, request.clientAddress, false);
    if (!check.ok && (check.reason === "throttled" || check.reason === "busy")) {
      throw new RegistryError("TOOMANYREQUESTS", check.message, { headers: { "Retry-After": String(check.retryAfterSeconds) } });
    }
    if (!check.ok) throw this.challenge(request, needed, optional, check.message);
    // Basic credentials are the token itself: no larger grant can be fetched, so a refusal is final (403).
    const granted = grantAccess([...needed, ...optional], check.state.permissions);
    if (!covers(granted, needed)) {
      throw new RegistryError("DENIED", `token "${username}" may not ${needed.map(formatScope).join(" ")}`, { detail: needed });
    }
    return principalOf(check.state, optional.filter((entry) => covers(granted, [entry])));
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

  /**
   * 401 UNAUTHORIZED with the challenge for everything the request asks (several scopes are
   * separated by spaces, as distribution writes them); `detail` says which accesses were lacking.
   */
  private challenge(
    request: HandlerRequest,
    needed: AccessEntry[],
    optional: AccessEntry[],
    message: string,
    error?: string,
    detail?: AccessEntry[],
  ): RegistryError {
    const { service, realm } = serviceIdentity(request, this.options.loginServer);
    const challenged = needed.map(challengeEntry);
    const asked = [...challenged, ...optional.filter((entry) => !covers(challenged, [entry]))];
    const scopes = asked.map(formatScope).join(" ");
    const parts = [`realm="${realm}"`, `service="${service}"`];
    if (scopes) parts.push(`scope="${scopes}"`);
    if (error) parts.push(`error="${error}"`);
    return new RegistryError("UNAUTHORIZED", message, {
      headers: { "WWW-Authenticate": `Bearer ${parts.join(",")}` },
      ...(detail ? { detail } : {}),
    });
  }
}

function principalOf(state: TokenState, optionalGranted: AccessEntry[]): Principal {
  return { mayRead: (repository) => state.permissions.mayRead(repository), tokenName: state.token.name, optionalGranted };
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

