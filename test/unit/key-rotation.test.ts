/** Rotating the token-signing key: what the old key signed or sealed keeps working while it is kept as the previous key. */
import { describe, expect, it } from "vitest";
import { TokenIssuer } from "../../shared/auth/jwt.js";
import { generateSigningKeyPem, loadSigningKey } from "../../shared/auth/signing-key.js";
import { CredentialSealer } from "../../shared/import/sealed-credentials.js";

const oldKey = loadSigningKey(generateSigningKeyPem());
const newKey = loadSigningKey(generateSigningKeyPem());
const access = [{ type: "repository" as const, name: "hello-world", actions: ["pull" as const] }];

describe("signing-key rotation", () => {
  it("verifies tokens of the previous key while it is configured, and publishes both keys", () => {
    const before = new TokenIssuer(oldKey).issueAccess("reader", "registry.example", access, 0, 300);
    const during = new TokenIssuer(newKey, [oldKey]);
    expect(during.verifyAccess(before, "registry.example").sub).toBe("reader");
    expect(during.jwks.keys.map((key) => key.kid)).toEqual([newKey.keyId, oldKey.keyId]);
    const fresh = during.issueAccess("reader", "registry.example", access, 0, 300);
    expect(new TokenIssuer(newKey).verifyAccess(fresh, "registry.example").sub).toBe("reader");
  });

  it("refuses tokens of a key no longer configured, and of keys it never had", () => {
    const before = new TokenIssuer(oldKey).issueAccess("reader", "registry.example", access, 0, 300);
    expect(() => new TokenIssuer(newKey).verifyAccess(before, "registry.example")).toThrow(/not signed by a key of this registry/);
    const foreign = new TokenIssuer(loadSigningKey(generateSigningKeyPem())).issueAccess("reader", "registry.example", access, 0, 300);
    expect(() => new TokenIssuer(newKey, [oldKey]).verifyAccess(foreign, "registry.example")).toThrow();
  });

  it("opens import credentials sealed before the rotation", () => {
    const sealed = new CredentialSealer(oldKey.privateKey).seal({ username: "u", password: "p" });
    expect(new CredentialSealer(newKey.privateKey, [oldKey.privateKey]).open(sealed)).toEqual({ username: "u", password: "p" });
    expect(() => new CredentialSealer(newKey.privateKey).open(sealed)).toThrow(/none of the registry's keys/);
  });
});
