import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManagementClient } from "../support/management-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const ISSUER = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0";
const AUDIENCE = "api://connected-registry-management";

describe("management API with Microsoft Entra ID tokens", () => {
  let stack: TestStack;
  let jwksServer: Server;
  let signingKey: KeyObject;
  let jwksRequests = 0;

  beforeAll(async () => {
    const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
    signingKey = pair.privateKey;
    const jwk = { ...pair.publicKey.export({ format: "jwk" }), kid: "test-key-1", use: "sig", alg: "RS256" };
    // A local stand-in for the tenant's published keys (the discovery document's jwks_uri).
    jwksServer = createServer((_req, res) => {
      jwksRequests++;
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
    const { port } = jwksServer.address() as AddressInfo;
    stack = await startTestStack({
      anonymous: false,
      settings: { ADMIN_ENTRA_ISSUER: ISSUER, ADMIN_ENTRA_AUDIENCE: AUDIENCE, ADMIN_ENTRA_JWKS_URL: `http://127.0.0.1:${port}/discovery/v2.0/keys` },
    });
  });
  afterAll(async () => {
    await stack?.destroy();
    jwksServer?.close();
  });

  function entraToken(overrides: { key?: KeyObject; kid?: string; audience?: string; issuer?: string; expiresIn?: number } = {}): string {
    return jwt.sign({ oid: "00000000-0000-0000-0000-0000000000aa", roles: ["Registry.Admin"] }, overrides.key ?? signingKey, {
      algorithm: "RS256",
      keyid: overrides.kid ?? "test-key-1",
      issuer: overrides.issuer ?? ISSUER,
      audience: overrides.audience ?? AUDIENCE,
      expiresIn: overrides.expiresIn ?? 600,
    });
  }

  it("accepts a token from the configured issuer for the configured audience", async () => {
    const response = await new ManagementClient(stack.registryUrl, entraToken()).call("GET", "scopeMaps");
    expect(response.status).toBe(200);
    expect(response.body.value.length).toBeGreaterThanOrEqual(3);
  });

  it("refuses tokens for another audience, from another issuer, signed by another key, or expired", async () => {
    const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const refused = [
      entraToken({ audience: "api://something-else" }),
      entraToken({ issuer: "https://login.microsoftonline.com/another-tenant/v2.0" }),
      entraToken({ key: otherKey }),
      entraToken({ key: otherKey, kid: "unknown-key" }),
      entraToken({ expiresIn: -60 }),
    ];
    for (const token of refused) {
      const response = await new ManagementClient(stack.registryUrl, token).call("POST", "scopeMaps", { name: "never-made", actions: ["repositories/x/content/read"] });
      expect(response.status).toBe(401);
    }
    expect((await new ManagementClient(stack.registryUrl).call("GET", "scopeMaps/never-made")).status).toBe(404);
  });

  it("reads the issuer's keys once, not on every request", async () => {
    const before = jwksRequests;
    for (let i = 0; i < 5; i++) await new ManagementClient(stack.registryUrl, entraToken()).call("GET", "tokens");
    expect(jwksRequests - before).toBeLessThanOrEqual(1);
  });

  it("still accepts the admin key alongside Entra ID", async () => {
    expect((await new ManagementClient(stack.registryUrl).call("GET", "tokens")).status).toBe(200);
  });
});
