/**
 * The token-signing key: an EC P-256 private key (ES256) in PEM, from configuration
 * (a Key Vault reference in Azure, a generated file locally). Its public half is
 * published as a JWKS so edges and other services verify tokens offline.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from "node:crypto";

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** RFC 7638 thumbprint of the public key: stable across restarts, changes with the key. */
  keyId: string;
  jwks: { keys: JsonWebKey[] };
}

export function loadSigningKey(pem: string): SigningKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== "ec" || privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error("the token-signing key must be an EC P-256 private key (for ES256)");
  }
  const publicKey = createPublicKey(privateKey);
  const jwk = publicKey.export({ format: "jwk" });
  const thumbprintInput = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  const keyId = createHash("sha256").update(thumbprintInput).digest("base64url");
  return { privateKey, publicKey, keyId, jwks: { keys: [{ ...jwk, kid: keyId, use: "sig", alg: "ES256" }] } };
}

export function generateSigningKeyPem(): string {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return privateKey.export({ format: "pem", type: "pkcs8" }).toString();
}
