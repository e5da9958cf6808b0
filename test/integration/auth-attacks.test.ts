/**
 * Attacks on the registry's authentication, against the real local stack with auth on:
 * each forged, replayed or misused credential is refused with 401 on /v2/ and changes
 * nothing. Also the password check itself (shared/auth/passwords.ts): constant-time
 * comparison and malformed stored hashes.
 */
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign as cryptoSign, type JsonWebKey } from "node:crypto";
import jwt from "jsonwebtoken";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { RegistryClient, errorCode, type PushedImage, AuthorizedClient } from "../support/registry-client.js";
import { TEST_ADMIN_KEY, startTestStack, type TestStack } from "../support/stack.js";

const TOKEN_STATE_SECONDS = 1;
const ISSUER = "connected-registry-token-server";
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const nextSecond = (): Promise<void> => sleep(1000 - (Date.now() % 1000) + 30);
const basic = (username: string, password: string): string => `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
const b64url = (value: string | Buffer): string => Buffer.from(value).toString("base64url");
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

interface TokenResponse {
  token: string;
  access_token: string;
  refresh_token?: string;
}


/** A JWT assembled by hand: any header, any payload, any signature. */
function assemble(header: object, payload: object, signature: (signingInput: string) => string): string {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${signingInput}.${signature(signingInput)}`;
}

/** ES256 signature (raw r||s, as JWS wants it) with the given EC private key. */
function es256(privateKey: ReturnType<typeof createPrivateKey>): (input: string) => string {
  return (input) => cryptoSign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" }).toString("base64url");
}

describe("attacks on /v2/ authentication (auth on)", () => {
  let stack: TestStack;
  let host: string;
  /** The registry's signing key: generated here and given to the stack, so the tests can sign well-formed control tokens. */
  const { privateKey: registryKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const registryKeyPem = registryKey.export({ format: "pem", type: "pkcs8" }).toString();
  let kid: string;
  let publishedJwk: JsonWebKey & { kid: string };
  let jwksBody: string;
  let seeder: AuthorizedClient;
  let victim: PushedImage;
  let attackerPassword: string;
  let attackerPasswordCreated: string;
  /** A genuine access token of the attacker: pull on victim/app only. */
  let attackerToken: string;
  let attackerRefresh: string;
  /** The second by which the attacker token's state last changed: forged control tokens are issued at or after it. */
  let attackerChangedSecond: number;
  let attackerChangedMs: number;

  async function management(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${stack.registryUrl}/management/${path}`, {
      method,
      headers: { Authorization: `Bearer ${TEST_ADMIN_KEY}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  async function managementOk<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await management(method, path, body);
    if (response.status >= 300) throw new Error(`${method} /management/${path} answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as T;
  }

  async function generatePassword(token: string): Promise<{ value: string; creationTime: string; updatedAt: string }> {
    const body = await managementOk<{ passwords: Array<{ value: string; creationTime: string }>; token: { updatedAt: string } }>(
      "POST",
      `tokens/${token}/credentials/generate`,
      { name: "password1" },
    );
    return { value: body.passwords[0]!.value, creationTime: body.passwords[0]!.creationTime, updatedAt: body.token.updatedAt };
  }

  function requestToken(username: string, password: string, scopes: string[], extra: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Response> {
    const params = new URLSearchParams({ ...extra });
    for (const scope of scopes) params.append("scope", scope);
    return fetch(`${stack.registryUrl}/oauth2/token?${params}`, { headers: { Authorization: basic(username, password), ...headers } });
  }

  function refresh(refreshToken: string, scopes: string[]): Promise<Response> {
    const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, service: host });
    for (const scope of scopes) body.append("scope", scope);
    return fetch(`${stack.registryUrl}/oauth2/token`, { method: "POST", body });
  }

  async function tokens(username: string, password: string, scopes: string[]): Promise<TokenResponse> {
    const response = await requestToken(username, password, scopes, { service: host, offline_token: "true" });
    if (response.status !== 200) throw new Error(`the token server answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as TokenResponse;
  }

  const bearer = (token: string): AuthorizedClient => new AuthorizedClient(stack.registryUrl, `Bearer ${token}`);

  /** Claims as the token server writes them, for the attacker, valid now. */
  function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const iat = Math.max(attackerChangedSecond, nowSeconds() - 1);
    return {
      access: [{ type: "repository", name: "victim/app", actions: ["pull"] }],
      iat,
      nbf: iat,
      exp: iat + 300,
      aud: host,
      iss: ISSUER,
      sub: "attacker",
      jti: randomUUID(),
      // The grant version the token server writes: when the token last changed.
      ver: attackerChangedMs,
      ...overrides,
    };
  }

  /** Everything a stolen grant would want: the victim's repository read, written, deleted; another repository; the catalog. */
  const escalated = [
    { type: "repository", name: "victim/app", actions: ["pull", "push", "delete"] },
    { type: "repository", name: "secret/app", actions: ["pull", "push", "delete"] },
    { type: "registry", name: "catalog", actions: ["*"] },
  ];

  const signedByRegistry = (payload: object, header: object = {}): string => assemble({ alg: "ES256", typ: "JWT", kid, ...header }, payload, es256(registryKey));

  /** What the registry holds, as the admin sees it. */
  async function registryState(): Promise<unknown> {
    const read = async (path: string): Promise<unknown> => {
      const response = await seeder.fetch(path, { headers: { Accept: MANIFEST } });
      return { status: response.status, body: response.status === 200 ? await response.text() : undefined };
    };
    return {
      victimTags: await read("/v2/victim/app/tags/list"),
      secretTags: await read("/v2/secret/app/tags/list"),
      victimManifest: await read(`/v2/victim/app/manifests/${victim.digest}`),
      catalog: await read("/v2/_catalog"),
    };
  }

  /**
   * Tries everything with the credential: read the victim's repository (which the
   * attacker's genuine token may do), read another repository, list the catalog, push a
   * tag, start an upload, delete the manifest. Each must be 401 with a Bearer challenge,
   * and afterwards the registry must hold what it held before.
   */
  async function expectRefusedEverywhere(authorization: string): Promise<void> {
    const before = await registryState();
    const client = new AuthorizedClient(stack.registryUrl, authorization);
    const attempts: Array<[string, () => Promise<Response>]> = [
      ["pull victim/app", () => client.fetch("/v2/victim/app/manifests/v1", { headers: { Accept: MANIFEST } })],
      ["pull secret/app", () => client.fetch("/v2/secret/app/manifests/v1", { headers: { Accept: MANIFEST } })],
      ["list the catalog", () => client.fetch("/v2/_catalog")],
      ["push a tag to victim/app", () => client.putManifest("victim/app", "pwned", victim.manifest)],
      ["push a tag to secret/app", () => client.putManifest("secret/app", "pwned", victim.manifest)],
      ["start an upload to victim/app", () => client.fetch("/v2/victim/app/blobs/uploads/", { method: "POST" })],
      ["delete the victim manifest", () => client.fetch(`/v2/victim/app/manifests/${victim.digest}`, { method: "DELETE" })],
      ["delete the victim layer", () => client.fetch(`/v2/victim/app/blobs/${victim.layerDigest}`, { method: "DELETE" })],
    ];
    for (const [what, attempt] of attempts) {
      const response = await attempt();
      expect(response.status, `${what} answered ${response.status}`).toBe(401);
      expect(response.headers.get("www-authenticate"), what).toMatch(new RegExp(`^Bearer realm="http://${host}/oauth2/token",service="${host}",scope="`));
      // insufficient_scope would mean the credentials were accepted and only the grant fell short.
      expect(response.headers.get("www-authenticate"), what).not.toContain('error="insufficient_scope"');
      expect(await errorCode(response), what).toBe("UNAUTHORIZED");
    }
    expect(await registryState()).toEqual(before);
  }

  beforeAll(async () => {
    stack = await startTestStack({
      anonymous: false,
      // Every attack here comes from 127.0.0.1 and many fail by design; the failed-login limits
      // (which would answer 429 after 10) have their own tests in login-limits.test.ts.
      settings: { TOKEN_SIGNING_KEY: registryKeyPem, TOKEN_STATE_SECONDS: String(TOKEN_STATE_SECONDS), LOGIN_FAILURES_PER_ADDRESS: "1000", LOGIN_FAILURES_PER_TOKEN: "1000" },
    });
    host = stack.registryHost;

    const jwksResponse = await fetch(`${stack.registryUrl}/.well-known/jwks.json`);
    jwksBody = await jwksResponse.text();
    publishedJwk = (JSON.parse(jwksBody) as { keys: Array<JsonWebKey & { kid: string }> }).keys[0]!;
    kid = publishedJwk.kid;
    // The stack signs with the key given to it: the control tokens below are as good as its own.
    expect(createPublicKey({ key: publishedJwk, format: "jwk" }).export({ format: "der", type: "spki" })).toEqual(
      createPublicKey(registryKey).export({ format: "der", type: "spki" }),
    );

    await managementOk("POST", "tokens", { name: "seeder", scopeMap: "_repositories_admin" });
    seeder = new AuthorizedClient(stack.registryUrl, basic("seeder", (await generatePassword("seeder")).value));
    victim = await seeder.pushImage("victim/app", "v1");
    await seeder.pushImage("secret/app", "v1");

    await managementOk("POST", "tokens", { name: "attacker", repositories: [{ name: "victim/app", actions: ["content/read"] }] });
    const generated = await generatePassword("attacker");
    attackerPassword = generated.value;
    attackerPasswordCreated = generated.creationTime;
    attackerChangedMs = Date.parse(generated.updatedAt);
    attackerChangedSecond = Math.floor(attackerChangedMs / 1000);
    const issued = await tokens("attacker", attackerPassword, ["repository:victim/app:pull,push,delete", "repository:secret/app:pull"]);
    attackerToken = issued.token;
    attackerRefresh = issued.refresh_token!;
  });
  afterAll(async () => stack?.destroy());

  describe("controls: the genuine credentials work, so each refusal below is the attack's doing", () => {
    it("the attacker's genuine access token pulls victim/app and nothing more", async () => {
      expect(jwt.decode(attackerToken)).toMatchObject({ access: [{ type: "repository", name: "victim/app", actions: ["pull"] }] });
      expect((await bearer(attackerToken).fetch("/v2/victim/app/manifests/v1", { headers: { Accept: MANIFEST } })).status).toBe(200);
      // A valid token short of the scope: 401 insufficient_scope (Docker's token spec), unlike the forgeries below (invalid_token).
      const push = await bearer(attackerToken).putManifest("victim/app", "pwned", victim.manifest);
      expect(push.status).toBe(401);
      expect(push.headers.get("www-authenticate")).toMatch(/,error="insufficient_scope"$/);
      const secret = await bearer(attackerToken).fetch("/v2/secret/app/tags/list");
      expect(secret.status).toBe(401);
      expect(secret.headers.get("www-authenticate")).toMatch(/scope="repository:secret\/app:pull",error="insufficient_scope"$/);
    });

    it("a token signed here with the registry's key and the token server's claims is accepted", async () => {
      const forged = signedByRegistry(claims());
      expect((await bearer(forged).fetch("/v2/victim/app/manifests/v1", { headers: { Accept: MANIFEST } })).status).toBe(200);
    });

    it("the attacker's refresh token gets new access tokens from the token server", async () => {
      expect((await refresh(attackerRefresh, ["repository:victim/app:pull"])).status).toBe(200);
    });
  });

  describe("forged tokens", () => {
    it('refuses a token with "alg": "none" and no signature', async () => {
      const payload = claims({ access: escalated });
      await expectRefusedEverywhere(`Bearer ${assemble({ alg: "none", typ: "JWT" }, payload, () => "")}`);
      await expectRefusedEverywhere(`Bearer ${assemble({ alg: "none", typ: "JWT", kid }, claims(), () => "")}`);
    });

    it('refuses "alg": "none" (in any case) carrying a genuine token\'s signature', async () => {
      const signature = attackerToken.split(".")[2]!;
      for (const alg of ["none", "None", "NONE"]) {
        await expectRefusedEverywhere(`Bearer ${assemble({ alg, typ: "JWT", kid }, claims({ access: escalated }), () => signature)}`);
      }
    });

    it("refuses a token signed by another EC P-256 key, even one naming the registry's key id", async () => {
      const { privateKey: otherKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
      await expectRefusedEverywhere(`Bearer ${assemble({ alg: "ES256", typ: "JWT", kid }, claims({ access: escalated }), es256(otherKey))}`);
      await expectRefusedEverywhere(`Bearer ${assemble({ alg: "ES256", typ: "JWT" }, claims(), es256(otherKey))}`);
    });

    it("refuses a token that embeds its own signing key in the header (jwk header injection)", async () => {
      const { privateKey: otherKey, publicKey: otherPublic } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
      const header = { alg: "ES256", typ: "JWT", kid, jwk: otherPublic.export({ format: "jwk" }) };
      await expectRefusedEverywhere(`Bearer ${assemble(header, claims({ access: escalated }), es256(otherKey))}`);
    });

    it("refuses an HS256 token whose HMAC secret is the registry's public key (PEM, DER, JWK or JWKS bytes)", async () => {
      const publicKey = createPublicKey(registryKey);
      const secrets: Array<[string, string | Buffer]> = [
        ["SPKI PEM", publicKey.export({ format: "pem", type: "spki" }).toString()],
        ["SPKI DER", publicKey.export({ format: "der", type: "spki" })],
        ["published JWK", JSON.stringify(publishedJwk)],
        ["JWKS body", jwksBody],
      ];
      for (const [, secret] of secrets) {
        for (const payload of [claims(), claims({ access: escalated })]) {
          const token = assemble({ alg: "HS256", typ: "JWT", kid }, payload, (input) => createHmac("sha256", secret).update(input).digest("base64url"));
          await expectRefusedEverywhere(`Bearer ${token}`);
        }
      }
    });

    it("refuses a token signed with the registry's key but expired", async () => {
      // Issued when the attacker's grant was current, expired a second ago: only exp is wrong.
      while (nowSeconds() < attackerChangedSecond + 2) await sleep(200);
      const expired = signedByRegistry(claims({ iat: attackerChangedSecond, nbf: attackerChangedSecond, exp: nowSeconds() - 1 }));
      await expectRefusedEverywhere(`Bearer ${expired}`);
    });

    it("refuses a token signed with the registry's key but not valid yet", async () => {
      await expectRefusedEverywhere(`Bearer ${signedByRegistry(claims({ nbf: nowSeconds() + 120 }))}`);
    });

    it("refuses a token signed with the registry's key for another issuer", async () => {
      await expectRefusedEverywhere(`Bearer ${signedByRegistry(claims({ iss: "someone-else" }))}`);
    });

    it("refuses a token the token server issued for another audience (service)", async () => {
      // The token server names the audience after the host the client says it used.
      const response = await requestToken("attacker", attackerPassword, ["repository:victim/app:pull"], {}, { "X-Forwarded-Host": "other-registry.example.com" });
      expect(response.status).toBe(200);
      const { token } = (await response.json()) as TokenResponse;
      expect(jwt.decode(token)).toMatchObject({ aud: "other-registry.example.com", access: [{ name: "victim/app", actions: ["pull"] }] });
      await expectRefusedEverywhere(`Bearer ${token}`);
      await expectRefusedEverywhere(`Bearer ${signedByRegistry(claims({ aud: "other-registry.example.com" }))}`);
      await expectRefusedEverywhere(`Bearer ${signedByRegistry(claims({ aud: [`${host}x`, "other"] }))}`);
    });

    it("refuses a genuine token whose payload was edited to escalate its scope, keeping the original signature", async () => {
      const [header, payload, signature] = attackerToken.split(".") as [string, string, string];
      const original = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
      const edits: Array<Record<string, unknown>> = [
        { access: escalated },
        { access: [{ type: "repository", name: "victim/app", actions: ["pull", "push"] }] },
        { access: [{ type: "repository", name: "secret/app", actions: ["pull"] }] },
        { sub: "seeder" },
        { exp: (original.exp as number) + 86_400 },
      ];
      for (const edit of edits) {
        await expectRefusedEverywhere(`Bearer ${header}.${b64url(JSON.stringify({ ...original, ...edit }))}.${signature}`);
      }
      // The unedited token still does what it was granted: the edit alone made the difference.
      expect((await bearer(attackerToken).fetch("/v2/victim/app/manifests/v1", { headers: { Accept: MANIFEST } })).status).toBe(200);
    });

    it("refuses garbage and truncated tokens", async () => {
      for (const token of ["", "a.b.c", attackerToken.split(".").slice(0, 2).join("."), `${attackerToken}.extra`, attackerToken.slice(0, -10)]) {
        await expectRefusedEverywhere(`Bearer ${token}`);
      }
    });
  });

  describe("tokens used for what they are not", () => {
    it("refuses a refresh token used as an access token", async () => {
      await expectRefusedEverywhere(`Bearer ${attackerRefresh}`);
    });

    it("refuses a token marked as a refresh token even when it also carries an access claim", async () => {
      const hybrid = signedByRegistry({ ...claims(), use: "refresh", pwd: "password1", pwdCreated: attackerPasswordCreated });
      await expectRefusedEverywhere(`Bearer ${hybrid}`);
    });

    it("refuses an access token used as a refresh token", async () => {
      const response = await refresh(attackerToken, ["repository:victim/app:pull"]);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: string }).error).toBe("invalid_grant");
      // Not even one that also names the password a refresh token would: only `use: "refresh"` makes a refresh token.
      const passwordClaims = { pwd: "password1", pwdCreated: attackerPasswordCreated };
      expect((await refresh(signedByRegistry({ ...claims(), ...passwordClaims }), ["repository:victim/app:pull"])).status).toBe(401);
      expect((await refresh(signedByRegistry({ ...claims(), ...passwordClaims, use: "refresh" }), ["repository:victim/app:pull"])).status).toBe(200);
    });

    it("refuses a refresh token signed with the registry's key but for another audience", async () => {
      const refreshClaims = (aud: string) => ({ ...claims({ aud }), access: undefined, use: "refresh", pwd: "password1", pwdCreated: attackerPasswordCreated });
      // Control: with this registry's audience the same forgery is a working refresh token.
      expect((await refresh(signedByRegistry(refreshClaims(host)), ["repository:victim/app:pull"])).status).toBe(200);
      const response = await refresh(signedByRegistry(refreshClaims("other-registry.example.com")), ["repository:victim/app:pull"]);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: string }).error).toBe("invalid_grant");
    });
  });

  describe("a password replayed after it was regenerated", () => {
    it("fails at the token server, as Basic on /v2/, and for refresh tokens issued from it", async () => {
      await managementOk("POST", "tokens", { name: "rotating", repositories: [{ name: "victim/app", actions: ["content/read"] }] });
      const old = (await generatePassword("rotating")).value;
      const issued = await tokens("rotating", old, ["repository:victim/app:pull"]);
      expect((await new AuthorizedClient(stack.registryUrl, basic("rotating", old)).fetch("/v2/victim/app/tags/list")).status).toBe(200);
      expect((await bearer(issued.token).fetch("/v2/victim/app/tags/list")).status).toBe(200);

      await nextSecond();
      const fresh = (await generatePassword("rotating")).value;
      expect(fresh).not.toBe(old);
      // Instances may trust what they looked up for TOKEN_STATE_SECONDS (the documented bound).
      await sleep(TOKEN_STATE_SECONDS * 1000 + 200);

      await expectRefusedEverywhere(basic("rotating", old));
      const direct = await new AuthorizedClient(stack.registryUrl, basic("rotating", old)).fetch("/v2/victim/app/tags/list");
      expect(((await direct.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toMatch(/wrong password/);

      const get = await requestToken("rotating", old, ["repository:victim/app:pull"], { service: host });
      expect(get.status).toBe(401);
      const post = await fetch(`${stack.registryUrl}/oauth2/token`, {
        method: "POST",
        body: new URLSearchParams({ grant_type: "password", username: "rotating", password: old, service: host, scope: "repository:victim/app:pull" }),
      });
      expect(post.status).toBe(401);

      const refreshed = await refresh(issued.refresh_token!, ["repository:victim/app:pull"]);
      expect(refreshed.status).toBe(401);
      expect(((await refreshed.json()) as { error_description: string }).error_description).toMatch(/regenerated/);

      // Access tokens issued from the old password lose their grant too.
      await expectRefusedEverywhere(`Bearer ${issued.token}`);

      // The new password works: the refusals are about the old one.
      const renewed = await tokens("rotating", fresh, ["repository:victim/app:pull"]);
      expect((await bearer(renewed.token).fetch("/v2/victim/app/tags/list")).status).toBe(200);
      expect((await new AuthorizedClient(stack.registryUrl, basic("rotating", fresh)).fetch("/v2/victim/app/tags/list")).status).toBe(200);
    });
  });

  describe("credentials for tokens that are gone", () => {
    it("refuses the password and access tokens of a deleted token", async () => {
      await managementOk("POST", "tokens", { name: "doomed", repositories: [{ name: "victim/app", actions: ["content/read"] }] });
      const password = (await generatePassword("doomed")).value;
      const issued = await tokens("doomed", password, ["repository:victim/app:pull"]);
      expect((await bearer(issued.token).fetch("/v2/victim/app/tags/list")).status).toBe(200);
      expect((await management("DELETE", "tokens/doomed")).status).toBe(204);
      await sleep(TOKEN_STATE_SECONDS * 1000 + 200);

      await expectRefusedEverywhere(`Bearer ${issued.token}`);
      await expectRefusedEverywhere(basic("doomed", password));
      expect((await requestToken("doomed", password, [], { service: host })).status).toBe(401);
      expect((await refresh(issued.refresh_token!, [])).status).toBe(401);
    });
  });
});

describe("password verification (shared/auth/passwords.ts)", () => {
  afterEach(() => {
    vi.doUnmock("node:crypto");
    vi.resetModules();
  });

  it("compares the derived key with crypto.timingSafeEqual, for right and wrong passwords", async () => {
    const calls: Array<[Buffer, Buffer]> = [];
    vi.resetModules();
    vi.doMock("node:crypto", async (importOriginal) => {
      const actual = await importOriginal<typeof import("node:crypto")>();
      const timingSafeEqual = (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView): boolean => {
        calls.push([Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)]);
        return actual.timingSafeEqual(a, b);
      };
      return { ...actual, default: { ...actual, timingSafeEqual }, timingSafeEqual };
    });
    const { generatePassword, hashPassword, verifyPassword } = await import("../../shared/auth/passwords.js");
    const password = generatePassword();
    const stored = await hashPassword(password);
    const expected = Buffer.from(stored.split("$")[5]!, "base64");

    expect(await verifyPassword(password, stored)).toBe(true);
    expect(await verifyPassword(`${password}x`, stored)).toBe(false);
    expect(calls).toHaveLength(2);
    for (const [actual, stored] of calls) {
      expect(actual).toHaveLength(32);
      expect(stored.equals(expected)).toBe(true);
    }
    expect(calls[0]![0].equals(expected)).toBe(true);
    expect(calls[1]![0].equals(expected)).toBe(false);
  });

  it("rejects wrong passwords differing at the first or the last character in indistinguishable time", async () => {
    const { generatePassword, hashPassword, verifyPassword } = await import("../../shared/auth/passwords.js");
    const password = generatePassword();
    const stored = await hashPassword(password);
    const flip = (c: string): string => (c === "A" ? "B" : "A");
    const wrongFirst = flip(password[0]!) + password.slice(1);
    const wrongLast = password.slice(0, -1) + flip(password.at(-1)!);

    const timeOf = async (candidate: string): Promise<number> => {
      const start = process.hrtime.bigint();
      expect(await verifyPassword(candidate, stored)).toBe(false);
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    await timeOf(wrongFirst); // warm-up
    const first: number[] = [];
    const last: number[] = [];
    // Interleaved, so drift in machine load affects both alike.
    for (let run = 0; run < 30; run++) {
      first.push(await timeOf(wrongFirst));
      last.push(await timeOf(wrongLast));
    }
    const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const [a, b] = [median(first), median(last)];
    // scrypt dominates (tens of ms); a comparison that stops at the first differing byte
    // could not show here, but any shortcut before or instead of the key derivation would.
    expect(Math.abs(a - b), `medians ${a.toFixed(2)} ms (first) vs ${b.toFixed(2)} ms (last)`).toBeLessThan(0.25 * Math.max(a, b) + 2);
  });

  it.each([
    ["an empty string", () => ""],
    ["another scheme", () => "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"],
    ["too few fields", (h: string) => h.split("$").slice(0, 5).join("$")],
    ["too many fields", (h: string) => `${h}$extra`],
    ["a non-numeric cost", (h: string) => replaceField(h, 1, "many")],
    ["a zero cost", (h: string) => replaceField(h, 1, "0")],
    ["a key of the wrong length", (h: string) => replaceField(h, 5, Buffer.alloc(16).toString("base64"))],
    ["an empty key", (h: string) => replaceField(h, 5, "")],
  ])("rejects a stored hash with %s (false, not an exception)", async (_what, corrupt) => {
    const { hashPassword, verifyPassword } = await import("../../shared/auth/passwords.js");
    const stored = await hashPassword("correct horse");
    await expect(verifyPassword("correct horse", corrupt(stored))).resolves.toBe(false);
  });

  it("rejects a well-formed stored hash whose scrypt parameters scrypt refuses (false, not an exception)", async () => {
    // The shape "scrypt$N$r$p$salt$key" is right (the configuration check on ADMIN_KEY_HASH accepts the digit-only ones);
    // the parameters are not ones scrypt can run with.
    const { hashPassword, verifyPassword } = await import("../../shared/auth/passwords.js");
    const stored = await hashPassword("correct horse");
    const cases: Array<[string, number, string]> = [
      ["a cost that is not a power of two", 1, "3"],
      ["a cost of 1", 1, "1"],
      ["a negative cost", 1, "-16384"],
      ["a cost beyond 2^32", 1, String(2 ** 40)],
      ["a fractional parallelism", 3, "1.5"],
      ["a block size that needs more memory than allowed", 2, "1000000000"],
    ];
    const outcomes: string[] = [];
    for (const [what, field, value] of cases) {
      try {
        const result = await verifyPassword("correct horse", replaceField(stored, field, value));
        if (result !== false) outcomes.push(`${what}: answered ${String(result)}`);
      } catch (error) {
        outcomes.push(`${what}: threw ${(error as Error).message}`);
      }
    }
    expect(outcomes).toEqual([]);
  });
});

function replaceField(hash: string, index: number, value: string): string {
  const parts = hash.split("$");
  parts[index] = value;
  return parts.join("$");
}
