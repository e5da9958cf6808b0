/**
 * Who may call the management API: a holder of the admin key (configured only as its
 * scrypt hash; the local stack generates one and prints it once), or, in Azure, a caller
 * with a Microsoft Entra ID access token for the configured issuer and audience,
 * verified against the issuer's published keys (JWKS). Anything else is refused with 401.
 */
import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import { verifyPassword } from "../auth/passwords.js";
import type { HandlerRequest } from "../http/types.js";
import { AdminError } from "./errors.js";

export interface EntraOptions {
  issuer: string;
  audience: string;
  jwksUrl: string;
}

export interface AdminAuthOptions {
  adminKeyHash: string | undefined;
  entra: EntraOptions | undefined;
}

const JWKS_MAX_AGE_MS = 60 * 60 * 1000;
const JWKS_MIN_REFETCH_MS = 60 * 1000;

export class AdminAuthenticator {
  /** sha256 of admin keys that verified: scrypt once per process, not per request. */
  private readonly verifiedKeys = new Set<string>();
  private jwks: { keys: Map<string, KeyObject>; fetchedAt: number } | undefined;

  constructor(private readonly options: AdminAuthOptions) {}

  async authenticate(request: HandlerRequest): Promise<void> {
    const header = request.headers.get("authorization");
    const bearer = header && /^bearer /i.test(header) ? header.slice(7).trim() : undefined;
    if (!bearer) throw unauthorized("send the admin key or a Microsoft Entra ID token as 'Authorization: Bearer <credential>'");
    if (bearer.split(".").length === 3) {
      await this.verifyEntraToken(bearer);
      return;
    }
    if (!this.options.adminKeyHash) throw unauthorized("no admin key is configured for this registry");
    const fingerprint = createHash("sha256").update(bearer).digest("base64");
    if (this.verifiedKeys.has(fingerprint)) return;
    if (!(await verifyPassword(bearer, this.options.adminKeyHash))) throw unauthorized("the admin key is wrong");
    this.verifiedKeys.add(fingerprint);
  }

  private async verifyEntraToken(token: string): Promise<void> {
    const entra = this.options.entra;
    if (!entra) throw unauthorized("Microsoft Entra ID sign-in is not configured for this registry");
    const decoded = jwt.decode(token, { complete: true });
    const keyId = decoded?.header.kid;
    if (!keyId) throw unauthorized("the token has no key id (kid)");
    const key = await this.signingKey(entra, keyId);
    if (!key) throw unauthorized(`the token's key ${keyId} is not among the issuer's published keys`);
    try {
      jwt.verify(token, key, { algorithms: ["RS256"], issuer: entra.issuer, audience: entra.audience });
    } catch (error) {
      throw unauthorized(`the Microsoft Entra ID token was refused: ${(error as Error).message}`);
    }
  }

  private async signingKey(entra: EntraOptions, keyId: string): Promise<KeyObject | undefined> {
    const now = Date.now();
    const stale = !this.jwks || now - this.jwks.fetchedAt > JWKS_MAX_AGE_MS;
    const unknownKey = this.jwks && !this.jwks.keys.has(keyId) && now - this.jwks.fetchedAt > JWKS_MIN_REFETCH_MS;
    if (stale || unknownKey) {
      const response = await fetch(entra.jwksUrl);
      if (!response.ok) throw new AdminError(503, "IdentityProviderUnavailable", `cannot read the signing keys at ${entra.jwksUrl} (${response.status})`);
      const body = (await response.json()) as { keys?: Array<JsonWebKey & { kid?: string }> };
      const keys = new Map<string, KeyObject>();
      for (const jwk of body.keys ?? []) if (jwk.kid && jwk.kty === "RSA") keys.set(jwk.kid, createPublicKey({ key: jwk, format: "jwk" }));
      this.jwks = { keys, fetchedAt: now };
    }
    return this.jwks?.keys.get(keyId);
  }
}

function unauthorized(message: string): AdminError {
  return new AdminError(401, "Unauthorized", message, { "WWW-Authenticate": 'Bearer realm="management"' });
}
