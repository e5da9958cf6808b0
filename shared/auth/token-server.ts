/**
 * The token server at /oauth2/token, as Docker's token-auth spec and its OAuth2 variant
 * describe it:
 *   GET  with Basic (token name + password), `service`, `scope`..., `offline_token=true`
 *   POST form, grant_type=password (username, password) or grant_type=refresh_token
 * It grants the intersection of what was asked and what the token's scope map allows.
 */
import { grantAccess, parseDockerScopes, ScopeParseError, type AccessEntry } from "../domain/docker-scope.js";
import { BodyTooLargeError, readBody } from "../http/body.js";
import type { HandlerRequest, HandlerResponse } from "../http/types.js";
import type { StoredPassword } from "../store/identity-store.js";
import { parseBasic } from "./basic-credentials.js";
import type { TokenIssuer } from "./jwt.js";
import type { PasswordLogin } from "./password-login.js";
import { serviceIdentity } from "./service-name.js";
import type { TokenDirectory, TokenState } from "./token-directory.js";

export interface TokenServerOptions {
  loginServer: string | undefined;
  accessTokenSeconds: number;
  refreshTokenSeconds: number;
}

const MAX_FORM_BYTES = 64 * 1024;

class TokenRequestError extends Error {
  constructor(
    readonly status: 400 | 401 | 429,
    readonly oauthError: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

const ERROR_CODES = { 400: "INVALID_REQUEST", 401: "UNAUTHORIZED", 429: "TOOMANYREQUESTS" } as const;

export function createTokenHandler(directory: TokenDirectory, login: PasswordLogin, issuer: TokenIssuer, options: TokenServerOptions) {
  function issue(state: TokenState, password: StoredPassword, scopes: string[], withRefresh: boolean, service: string): Record<string, unknown> {
    let requested: AccessEntry[];
    try {
      requested = parseDockerScopes(scopes);
    } catch (error) {
      if (error instanceof ScopeParseError) throw new TokenRequestError(400, "invalid_scope", error.message);
      throw error;
    }
    const access = grantAccess(requested, state.permissions);
    const token = issuer.issueAccess(state.token.name, service, access, state.changedAt, options.accessTokenSeconds);
    const body: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: options.accessTokenSeconds,
      issued_at: new Date().toISOString(),
    };
    if (withRefresh) body.refresh_token = issuer.issueRefresh(state.token.name, service, password, options.refreshTokenSeconds);
    return body;
  }

  function requireService(request: HandlerRequest, asked: string | null): string {
    const { service } = serviceIdentity(request, options.loginServer);
    if (asked !== null && asked !== service) {
      throw new TokenRequestError(400, "invalid_request", `this token server issues tokens for service "${service}", not "${asked}"`);
    }
    return service;
  }

  async function withPassword(request: HandlerRequest, username: string, password: string) {
    const check = await login.check(username, password, request.clientAddress, true);
    if (!check.ok && (check.reason === "throttled" || check.reason === "busy")) {
      // OAuth 2.0 names no error for this; RFC 6749's temporarily_unavailable is the closest.
      throw new TokenRequestError(429, "temporarily_unavailable", check.message, check.retryAfterSeconds);
    }
    if (!check.ok) throw new TokenRequestError(401, "invalid_grant", `authentication failed: ${check.message}`);
    return check;
  }

  async function handleGet(request: HandlerRequest): Promise<Record<string, unknown>> {
    const params = request.url.searchParams;
    const service = requireService(request, params.get("service"));
    const basic = parseBasic(request.headers.get("authorization"));
    if (!basic) throw new TokenRequestError(401, "invalid_client", "send the token name and password with HTTP Basic authentication");
    const check = await withPassword(request, basic.username, basic.password);
    return issue(check.state, check.password, params.getAll("scope"), params.get("offline_token") === "true", service);
  }

  async function handlePost(request: HandlerRequest): Promise<Record<string, unknown>> {
    const contentType = request.headers.get("content-type") ?? "";
    if (!contentType.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
      throw new TokenRequestError(400, "invalid_request", "POST a form (application/x-www-form-urlencoded)");
    }
    const form = new URLSearchParams(await readForm(request.body));
    const service = requireService(request, form.get("service"));
    const scopes = form.getAll("scope");
    switch (form.get("grant_type")) {
      case "password": {
        const username = form.get("username");
        const password = form.get("password");
        if (!username || !password) throw new TokenRequestError(400, "invalid_request", "grant_type=password needs username and password");
        const check = await withPassword(request, username, password);
        return issue(check.state, check.password, scopes, true, service);
      }
      case "refresh_token": {
        const refreshToken = form.get("refresh_token");
        if (!refreshToken) throw new TokenRequestError(400, "invalid_request", "grant_type=refresh_token needs refresh_token");
        let claims;
        try {
          claims = issuer.verifyRefresh(refreshToken, service);
        } catch {
          throw new TokenRequestError(401, "invalid_grant", "the refresh token is invalid or expired; log in again");
        }
        const state = await directory.load(claims.sub);
        if (!state) throw new TokenRequestError(401, "invalid_grant", `token "${claims.sub}" does not exist in this registry`);
        if (state.token.status !== "enabled") throw new TokenRequestError(401, "invalid_grant", `token "${claims.sub}" is disabled`);
        const password = directory.findPassword(state, claims.pwd);
        if (!password || password.createdAt !== claims.pwdCreated) {
          throw new TokenRequestError(401, "invalid_grant", `the ${claims.pwd} this refresh token came from was regenerated or removed; log in again`);
        }
        if (password.expiry && Date.parse(password.expiry) <= Date.now()) {
          throw new TokenRequestError(401, "invalid_grant", `the ${claims.pwd} of token "${claims.sub}" expired at ${password.expiry}`);
        }
        return issue(state, password, scopes, true, service);
      }
      default:
        throw new TokenRequestError(400, "unsupported_grant_type", 'grant_type must be "password" or "refresh_token"');
    }
  }

  return async (request: HandlerRequest): Promise<HandlerResponse> => {
    try {
      const body = request.method === "POST" ? await handlePost(request) : await handleGet(request);
      return json(200, body, { "Cache-Control": "no-store" });
    } catch (error) {
      if (!(error instanceof TokenRequestError)) throw error;
      const { realm } = serviceIdentity(request, options.loginServer);
      const headers: Record<string, string> = { "Cache-Control": "no-store" };
      if (error.status === 401) headers["WWW-Authenticate"] = `Basic realm="${realm}"`;
      if (error.retryAfterSeconds !== undefined) headers["Retry-After"] = String(error.retryAfterSeconds);
      return json(
        error.status,
        {
          errors: [{ code: ERROR_CODES[error.status], message: error.message }],
          error: error.oauthError,
          error_description: error.message,
        },
        headers,
      );
    }
  };
}

async function readForm(body: AsyncIterable<Uint8Array> | null): Promise<string> {
  try {
    return Buffer.from(await readBody(body, MAX_FORM_BYTES)).toString("utf8");
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new TokenRequestError(400, "invalid_request", `the form exceeds ${MAX_FORM_BYTES} bytes`);
    throw error;
  }
}

function json(status: number, value: unknown, headers: Record<string, string>): HandlerResponse {
  const body = JSON.stringify(value);
  return { status, headers: { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(Buffer.byteLength(body)), ...headers }, body };
}

export function createJwksHandler(jwks: object) {
  const body = JSON.stringify(jwks);
  return async (): Promise<HandlerResponse> => ({
    status: 200,
    headers: { "Content-Type": "application/json", "Cache-Control": "public, max-age=300", "Content-Length": String(Buffer.byteLength(body)) },
    body,
  });
}
