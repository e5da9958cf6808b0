/**
 * The TokenCredential for Azurite in OAuth mode (`--oauth basic`, over HTTPS): it mints the
 * Entra ID-shaped access token Azurite checks (audience https://storage.azure.com, an
 * https://sts.windows.net/<tenant>/ issuer, nbf/exp) without a real signature, which Azurite
 * does not verify. With it the app signs in to local storage exactly as it does in Azure with
 * DefaultAzureCredential: bearer tokens, no account key. Selected by STORAGE_CREDENTIAL=emulator;
 * real Azure Storage refuses these tokens, so it is useless (and harmless) anywhere else.
 */
import { randomUUID } from "node:crypto";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/identity";

/** A fixed, made-up tenant: Azurite checks only the issuer's prefix. */
const EMULATOR_TENANT = "00000000-0000-0000-0000-00000000e1a1";
const TOKEN_SECONDS = 3600;

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

export class EmulatorCredential implements TokenCredential {
  constructor(private readonly now: () => number = Date.now) {}

  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? scopes[0] : scopes;
    // "https://storage.azure.com/.default" -> the resource the token is for.
    const audience = (scope ?? "https://storage.azure.com/.default").replace(/\/\.default$/, "");
    const issuedAt = Math.floor(this.now() / 1000);
    const expiresAt = issuedAt + TOKEN_SECONDS;
    const claims = {
      aud: audience,
      iss: `https://sts.windows.net/${EMULATOR_TENANT}/`,
      tid: EMULATOR_TENANT,
      oid: randomUUID(),
      sub: "local-registry-app",
      iat: issuedAt,
      nbf: issuedAt - 60,
      exp: expiresAt,
      ver: "1.0",
    };
    // Shaped like Entra's RS256 tokens; the signature is random bytes (nothing here could sign for Entra).
    const token = `${base64url({ typ: "JWT", alg: "RS256" })}.${base64url(claims)}.${Buffer.from(randomUUID()).toString("base64url")}`;
    return { token, expiresOnTimestamp: expiresAt * 1000 };
  }
}
