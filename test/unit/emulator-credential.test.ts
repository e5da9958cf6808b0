import { describe, expect, it } from "vitest";
import { EmulatorCredential } from "../../shared/store/emulator-credential.js";

const claimsOf = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;

describe("the emulator credential", () => {
  it("mints an Entra-shaped storage token: audience, sts.windows.net issuer, a validity window around now", async () => {
    const now = Date.parse("2026-12-01T12:00:00Z");
    const { token, expiresOnTimestamp } = await new EmulatorCredential(() => now).getToken("https://storage.azure.com/.default");
    const claims = claimsOf(token);
    expect(claims.aud).toBe("https://storage.azure.com");
    expect(claims.iss).toMatch(/^https:\/\/sts\.windows\.net\/[0-9a-f-]{36}\/$/);
    expect(claims.nbf).toBeLessThan(now / 1000);
    expect(claims.exp).toBe(now / 1000 + 3600);
    expect(expiresOnTimestamp).toBe(now + 3600_000);
    expect(JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString())).toEqual({ typ: "JWT", alg: "RS256" });
  });
});
