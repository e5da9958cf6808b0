/**
 * Access and refresh tokens: ES256 JWTs. Verification accepts ES256 only, from our own
 * key, for our issuer and the expected audience, so "alg: none", HS256-with-the-public-key
 * and foreign keys are all refused by construction.
 */
import { randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import type { AccessEntry } from "../domain/docker-scope.js";
import type { PasswordName } from "../store/identity-store.js";
import type { SigningKey } from "./signing-key.js";

export const ISSUER = "connected-registry-token-server";

export interface AccessClaims {
  sub: string;
  aud: string;
  iat: number;
  exp: number;
  access: AccessEntry[];
  /** When the token's grant last changed as of issuance (ms); later changes make this token stale. */
  ver: number;
}

export interface RefreshClaims {
  sub: string;
  aud: string;
  iat: number;
  exp: number;
  use: "refresh";
  /** Which password it came from, and that password's creation time: regenerate it and the refresh token dies. */
  pwd: PasswordName;
  pwdCreated: string;
}

export class TokenIssuer {
  /** Verification keys by key id: the current key, and during a rotation the previous one. */
  private readonly verificationKeys: Map<string, SigningKey>;

  /**
   * Signs with `key`; verifies with it and with `previous` (a rotated-out key, kept until
   * the tokens it signed have expired), choosing by the token's `kid`.
   */
  constructor(
    private readonly key: SigningKey,
    previous: SigningKey[] = [],
  ) {
    this.verificationKeys = new Map([key, ...previous].map((candidate) => [candidate.keyId, candidate]));
  }

  /** Every verification key, for /.well-known/jwks.json. */
  get jwks(): { keys: SigningKey["jwks"]["keys"] } {
    return { keys: [...this.verificationKeys.values()].flatMap((candidate) => candidate.jwks.keys) };
  }

  issueAccess(subject: string, audience: string, access: AccessEntry[], grantVersion: number, lifetimeSeconds: number): string {
    return this.sign({ access, ver: grantVersion }, subject, audience, lifetimeSeconds);
  }

  issueRefresh(subject: string, audience: string, password: { name: PasswordName; createdAt: string }, lifetimeSeconds: number): string {
    return this.sign({ use: "refresh", pwd: password.name, pwdCreated: password.createdAt }, subject, audience, lifetimeSeconds);
  }

  private sign(claims: object, subject: string, audience: string, lifetimeSeconds: number): string {
    return jwt.sign(claims, this.key.privateKey, {
      algorithm: "ES256",
      keyid: this.key.keyId,
      issuer: ISSUER,
      subject,
      audience,
      expiresIn: lifetimeSeconds,
      notBefore: 0,
      jwtid: randomUUID(),
    });
  }

  /** Throws on anything but a valid access token for this audience. */
  verifyAccess(token: string, audience: string): AccessClaims {
    const claims = this.verify(token, audience);
    if (claims.use !== undefined || !Array.isArray(claims.access) || typeof claims.sub !== "string" || typeof claims.ver !== "number") {
      throw new jwt.JsonWebTokenError("not an access token");
    }
    return claims as unknown as AccessClaims;
  }

  verifyRefresh(token: string, audience: string): RefreshClaims {
    const claims = this.verify(token, audience);
    if (claims.use !== "refresh" || typeof claims.sub !== "string" || typeof claims.pwd !== "string") {
      throw new jwt.JsonWebTokenError("not a refresh token");
    }
    return claims as unknown as RefreshClaims;
  }

  private verify(token: string, audience: string): jwt.JwtPayload {
    const kid = jwt.decode(token, { complete: true })?.header.kid;
    const key = kid === undefined ? undefined : this.verificationKeys.get(kid);
    if (!key) throw new jwt.JsonWebTokenError("the token was not signed by a key of this registry");
    const claims = jwt.verify(token, key.publicKey, { algorithms: ["ES256"], issuer: ISSUER, audience });
    if (typeof claims === "string") throw new jwt.JsonWebTokenError("unexpected string payload");
    return claims;
  }
}
