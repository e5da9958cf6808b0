/**
 * The token server (/oauth2/token, /.well-known/jwks.json) and bearer/Basic enforcement
 * on /v2/, against the real local stack with authentication on.
 */
import { createPublicKey, randomBytes, type JsonWebKey } from "node:crypto";
import { get as httpGet, type IncomingMessage } from "node:http";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient, errorCode, type PushedImage, AuthorizedClient } from "../support/registry-client.js";
import { TEST_ADMIN_KEY, startTestStack, type TestStack } from "../support/stack.js";

/** The revocation bound this stack runs with (TOKEN_STATE_SECONDS), kept short so the test is fast. */
const TOKEN_STATE_SECONDS = 1;
const ISSUER = "connected-registry-token-server";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits until just after the next whole second, so what follows happens in a later second than what came before. */
const nextSecond = (): Promise<void> => sleep(1000 - (Date.now() % 1000) + 30);

interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
}

interface TokenError {
  error: string;
  error_description: string;
  errors: Array<{ code: string; message: string }>;
}

interface AccessClaims extends jwt.JwtPayload {
  access: Array<{ type: string; name: string; actions: string[] }>;
}

type Repositories = Array<{ name: string; actions: string[] }>;

const basic = (username: string, password: string): string => `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;


function claimsOf(token: string): AccessClaims {
  const claims = jwt.decode(token);
  if (!claims || typeof claims === "string") throw new Error(`not a JWT: ${token}`);
  return claims as AccessClaims;
}

/** Sorted, so the comparison does not depend on the order the token server wrote the entries in. */
function sortedAccess(access: AccessClaims["access"]): AccessClaims["access"] {
  return [...access].map((entry) => ({ ...entry, actions: [...entry.actions].sort() })).sort((a, b) => `${a.type}:${a.name}`.localeCompare(`${b.type}:${b.name}`));
}

describe("token server and /v2/ authorization (auth on)", () => {
  let stack: TestStack;
  let host: string;
  let anonymous: RegistryClient;
  let seeded: PushedImage;
  let seeder: AuthorizedClient;
  let readerPassword: string;

  /** Repositories the seeder pushes; the reader may read hello, solo and what is under team/. */
  const repositories = ["hello", "solo", "team", "team/app", "team/tools/cli", "teamx/app", "other/thing"];
  const readerRepositories: Repositories = [
    { name: "hello", actions: ["content/read", "content/write"] },
    { name: "team/*", actions: ["content/read"] },
    { name: "solo", actions: ["metadata/read"] },
  ];

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
    return (response.status === 204 ? undefined : await response.json()) as T;
  }

  async function createToken(name: string, spec: { scopeMap: string } | { repositories: Repositories }, status?: "enabled" | "disabled"): Promise<void> {
    await managementOk("POST", "tokens", { name, ...spec, ...(status ? { status } : {}) });
  }

  /** Generates password1 of the token and returns it. */
  async function generatePassword(token: string, expiry?: string): Promise<string> {
    const body = await managementOk<{ passwords: Array<{ name: string; value: string }> }>("POST", `tokens/${token}/credentials/generate`, {
      name: "password1",
      ...(expiry ? { expiry } : {}),
    });
    return body.passwords[0]!.value;
  }

  function tokenUrl(scopes: string[], extra: Record<string, string> = {}): string {
    const params = new URLSearchParams({ service: host, ...extra });
    for (const scope of scopes) params.append("scope", scope);
    return `${stack.registryUrl}/oauth2/token?${params}`;
  }

  function requestToken(username: string, password: string, scopes: string[], extra: Record<string, string> = {}): Promise<Response> {
    return fetch(tokenUrl(scopes, extra), { headers: { Authorization: basic(username, password) } });
  }

  function postToken(form: Record<string, string>, scopes: string[] = []): Promise<Response> {
    const body = new URLSearchParams({ service: host, ...form });
    for (const scope of scopes) body.append("scope", scope);
    return fetch(`${stack.registryUrl}/oauth2/token`, { method: "POST", body });
  }

  async function accessToken(username: string, password: string, scopes: string[]): Promise<string> {
    const response = await requestToken(username, password, scopes);
    if (response.status !== 200) throw new Error(`the token server answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as TokenResponse).token;
  }

  const bearer = (token: string): AuthorizedClient => new AuthorizedClient(stack.registryUrl, `Bearer ${token}`);

  /** What a Docker-style client reads from a WWW-Authenticate challenge. */
  function challengeParams(header: string): Record<string, string> {
    return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  }

  /** Asks the challenge's realm for its service and scope, as a client that follows challenges does. */
  async function accessTokenFor(params: Record<string, string>, username: string, password: string): Promise<string> {
    const response = await fetch(`${params.realm}?service=${encodeURIComponent(params.service!)}&scope=${encodeURIComponent(params.scope!)}`, {
      headers: { Authorization: basic(username, password) },
    });
    if (response.status !== 200) throw new Error(`the token server answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as TokenResponse).token;
  }

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false, settings: { TOKEN_STATE_SECONDS: String(TOKEN_STATE_SECONDS) } });
    host = stack.registryHost;
    anonymous = new RegistryClient(stack.registryUrl);

    await createToken("seeder", { scopeMap: "_repositories_admin" });
    seeder = new AuthorizedClient(stack.registryUrl, basic("seeder", await generatePassword("seeder")));
    for (const name of repositories) {
      const image = await seeder.pushImage(name, "v1");
      if (name === "hello") seeded = image;
    }

    await createToken("reader", { repositories: readerRepositories });
    readerPassword = await generatePassword("reader");
  });
  afterAll(async () => stack?.destroy());

  describe("issuing tokens", () => {
    it("answers GET with Basic with token and access_token (the same JWT), expires_in and issued_at", async () => {
      const before = Date.now();
      const response = await requestToken("reader", readerPassword, ["repository:hello:pull"]);
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-store");
      const body = (await response.json()) as TokenResponse;
      expect(body.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(body.access_token).toBe(body.token);
      expect(body.expires_in).toBe(300);
      const issuedAt = Date.parse(body.issued_at);
      expect(new Date(issuedAt).toISOString()).toBe(body.issued_at);
      expect(issuedAt).toBeGreaterThanOrEqual(before - 1000);
      expect(issuedAt).toBeLessThanOrEqual(Date.now() + 1000);
      expect(body.refresh_token).toBeUndefined();
    });

    it("adds a refresh token when offline_token=true", async () => {
      const response = await requestToken("reader", readerPassword, ["repository:hello:pull"], { offline_token: "true" });
      expect(response.status).toBe(200);
      const body = (await response.json()) as TokenResponse;
      expect(body.refresh_token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(body.refresh_token).not.toBe(body.token);
      expect(claimsOf(body.refresh_token!).sub).toBe("reader");
    });

    it("issues a JWT with iss, sub, aud (the service), exp, nbf, iat, jti and the intersection of asked and allowed as access", async () => {
      const scopes = [
        "repository:hello:pull,push,delete",
        "repository:team/app:pull,push repository:other/thing:pull",
        "repository:team:pull",
        "repository:solo:pull,metadata_read",
        "registry:catalog:*",
      ];
      const token = await accessToken("reader", readerPassword, scopes);
      const decoded = jwt.decode(token, { complete: true })!;
      expect(decoded.header.alg).toBe("ES256");
      const claims = decoded.payload as AccessClaims;
      expect(claims.iss).toBe(ISSUER);
      expect(claims.sub).toBe("reader");
      expect(claims.aud).toBe(host);
      expect(typeof claims.iat).toBe("number");
      expect(Math.abs(claims.iat! - Date.now() / 1000)).toBeLessThan(5);
      expect(claims.nbf).toBe(claims.iat);
      expect(claims.exp).toBe(claims.iat! + 300);
      expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
      expect(sortedAccess(claims.access)).toEqual(
        sortedAccess([
          { type: "repository", name: "hello", actions: ["pull", "push"] },
          { type: "repository", name: "team/app", actions: ["pull"] },
          { type: "repository", name: "solo", actions: ["metadata_read"] },
          { type: "registry", name: "catalog", actions: ["*"] },
        ]),
      );
    });

    it("gives every token a distinct jti", async () => {
      const first = await accessToken("reader", readerPassword, ["repository:hello:pull"]);
      const second = await accessToken("reader", readerPassword, ["repository:hello:pull"]);
      expect(claimsOf(first).jti).not.toBe(claimsOf(second).jti);
    });

    it("grants an empty access list, not an error, when nothing asked is allowed", async () => {
      const response = await requestToken("reader", readerPassword, ["repository:other/thing:pull,push", "repository:hello:delete"]);
      expect(response.status).toBe(200);
      expect(claimsOf(((await response.json()) as TokenResponse).token).access).toEqual([]);
    });

    it("signs tokens with the key published at /.well-known/jwks.json (and publishes only its public half)", async () => {
      const token = await accessToken("reader", readerPassword, ["repository:hello:pull"]);
      const response = await fetch(`${stack.registryUrl}/.well-known/jwks.json`);
      expect(response.status).toBe(200);
      const jwks = (await response.json()) as { keys: Array<JsonWebKey & { kid: string; alg?: string }> };
      const kid = jwt.decode(token, { complete: true })!.header.kid;
      const jwk = jwks.keys.find((key) => key.kid === kid);
      expect(jwk, `no key with the token's kid ${kid} in ${JSON.stringify(jwks)}`).toBeDefined();
      expect(jwk).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256" });
      expect(jwk).not.toHaveProperty("d");
      const key = createPublicKey({ key: jwk!, format: "jwk" });
      const verified = jwt.verify(token, key, { algorithms: ["ES256"], issuer: ISSUER, audience: host }) as AccessClaims;
      expect(verified.sub).toBe("reader");
      expect(() => jwt.verify(`${token.slice(0, -4)}AAAA`, key, { algorithms: ["ES256"] })).toThrow();
    });

    it("issues tokens for a POSTed form with grant_type=password, with a refresh token", async () => {
      const response = await postToken({ grant_type: "password", username: "reader", password: readerPassword, client_id: "test" }, [
        "repository:hello:pull,push",
        "repository:other/thing:pull",
      ]);
      expect(response.status).toBe(200);
      const body = (await response.json()) as TokenResponse;
      expect(body.access_token).toBe(body.token);
      expect(body.refresh_token).toBeTruthy();
      expect(claimsOf(body.access_token).access).toEqual([{ type: "repository", name: "hello", actions: ["pull", "push"] }]);
      expect((await bearer(body.access_token).fetch("/v2/hello/tags/list")).status).toBe(200);
    });

    it("issues new tokens for a POSTed form with grant_type=refresh_token, for the scope now asked", async () => {
      const first = (await (await requestToken("reader", readerPassword, ["repository:hello:pull"], { offline_token: "true" })).json()) as TokenResponse;
      const response = await postToken({ grant_type: "refresh_token", refresh_token: first.refresh_token! }, ["repository:team/tools/cli:pull,push"]);
      expect(response.status).toBe(200);
      const body = (await response.json()) as TokenResponse;
      const claims = claimsOf(body.access_token);
      expect(claims.sub).toBe("reader");
      expect(claims.access).toEqual([{ type: "repository", name: "team/tools/cli", actions: ["pull"] }]);
      expect((await bearer(body.access_token).fetch("/v2/team/tools/cli/tags/list")).status).toBe(200);
    });

    it("refuses a wrong password with 401 invalid_grant and a Basic challenge", async () => {
      const response = await requestToken("reader", `${readerPassword}x`, ["repository:hello:pull"]);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(`Basic realm="http://${host}/oauth2/token"`);
      const body = (await response.json()) as TokenError;
      expect(body.error).toBe("invalid_grant");
      expect(body.errors[0]!.code).toBe("UNAUTHORIZED");
      expect(body.error_description).toContain("wrong password");
    });

    it("refuses a GET without credentials, a token for another service and a malformed scope", async () => {
      expect((await fetch(tokenUrl(["repository:hello:pull"]))).status).toBe(401);
      const otherService = await fetch(tokenUrl(["repository:hello:pull"], { service: "registry.example.com" }), {
        headers: { Authorization: basic("reader", readerPassword) },
      });
      expect(otherService.status).toBe(400);
      const malformed = await requestToken("reader", readerPassword, ["repository:hello"]);
      expect(malformed.status).toBe(400);
      expect(((await malformed.json()) as TokenError).error).toBe("invalid_scope");
    });

    it("refuses a disabled token, saying it is disabled, at the token server and on /v2/", async () => {
      await createToken("sleeper", { repositories: [{ name: "hello", actions: ["content/read"] }] }, "disabled");
      const password = await generatePassword("sleeper");

      const get = await requestToken("sleeper", password, ["repository:hello:pull"]);
      expect(get.status).toBe(401);
      expect(((await get.json()) as TokenError).error_description).toMatch(/disabled/);

      const post = await postToken({ grant_type: "password", username: "sleeper", password }, ["repository:hello:pull"]);
      expect(post.status).toBe(401);
      expect(((await post.json()) as TokenError).error_description).toMatch(/disabled/);

      const direct = await new AuthorizedClient(stack.registryUrl, basic("sleeper", password)).fetch("/v2/hello/tags/list");
      expect(direct.status).toBe(401);
      expect(((await direct.json()) as TokenError).errors[0]!.message).toMatch(/disabled/);

      // The same password works once the token is enabled: it was refused for being disabled.
      await managementOk("PATCH", "tokens/sleeper", { status: "enabled" });
      expect((await requestToken("sleeper", password, ["repository:hello:pull"])).status).toBe(200);
    });

    it("refuses an expired password, saying it expired, at the token server, on /v2/ and for its refresh tokens", async () => {
      await createToken("mayfly", { repositories: [{ name: "hello", actions: ["content/read"] }] });
      const expiry = new Date(Date.now() + 2500).toISOString();
      const password = await generatePassword("mayfly", expiry);
      const before = await requestToken("mayfly", password, ["repository:hello:pull"], { offline_token: "true" });
      expect(before.status).toBe(200);
      const refreshToken = ((await before.json()) as TokenResponse).refresh_token!;

      await sleep(Date.parse(expiry) - Date.now() + 300);

      const get = await requestToken("mayfly", password, ["repository:hello:pull"]);
      expect(get.status).toBe(401);
      expect(((await get.json()) as TokenError).error_description).toMatch(/expired/);
      const post = await postToken({ grant_type: "password", username: "mayfly", password });
      expect(post.status).toBe(401);
      expect(((await post.json()) as TokenError).error_description).toMatch(/expired/);
      const refresh = await postToken({ grant_type: "refresh_token", refresh_token: refreshToken }, ["repository:hello:pull"]);
      expect(refresh.status).toBe(401);
      expect(((await refresh.json()) as TokenError).error_description).toMatch(/expired/);
      const direct = await new AuthorizedClient(stack.registryUrl, basic("mayfly", password)).fetch("/v2/hello/tags/list");
      expect(direct.status).toBe(401);
      expect(((await direct.json()) as TokenError).errors[0]!.message).toMatch(/expired/);
    });
  });

  describe("challenges on /v2/", () => {
    const challenge = (scope?: string): string =>
      `Bearer realm="http://${host}/oauth2/token",service="${host}"${scope === undefined ? "" : `,scope="${scope}"`}`;
    const uploadId = "0b6b6c5e-59d9-4bfb-9a0e-1f0e3c2b4a11";

    it.each([
      ["GET a manifest", "GET", "/v2/hello/manifests/v1", "repository:hello:pull"],
      ["HEAD a manifest", "HEAD", "/v2/hello/manifests/v1", "repository:hello:pull"],
      ["GET a blob", "GET", "/v2/team/app/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000", "repository:team/app:pull"],
      ["list tags", "GET", "/v2/team/tools/cli/tags/list", "repository:team/tools/cli:pull"],
      ["start an upload", "POST", "/v2/hello/blobs/uploads/", "repository:hello:pull,push"],
      ["continue an upload", "PATCH", `/v2/hello/blobs/uploads/${uploadId}`, "repository:hello:pull,push"],
      ["finish an upload", "PUT", `/v2/hello/blobs/uploads/${uploadId}?digest=sha256:0000000000000000000000000000000000000000000000000000000000000000`, "repository:hello:pull,push"],
      ["PUT a manifest", "PUT", "/v2/hello/manifests/v2", "repository:hello:pull,push"],
      ["DELETE a manifest", "DELETE", "/v2/hello/manifests/v1", "repository:hello:delete"],
      ["DELETE a blob", "DELETE", "/v2/hello/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000", "repository:hello:delete"],
      ["list the catalog", "GET", "/v2/_catalog", "registry:catalog:*"],
    ])("answers 401 to an anonymous request to %s (%s %s), challenging for exactly %s", async (_what, method, path, scope) => {
      const response = await anonymous.fetch(path, { method, ...(method === "PUT" || method === "PATCH" || method === "POST" ? { body: "{}" } : {}) });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(challenge(scope));
      if (method !== "HEAD") expect(await errorCode(response)).toBe("UNAUTHORIZED");
    });

    it("challenges GET /v2/ without a scope", async () => {
      const response = await anonymous.fetch("/v2/");
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(challenge());
    });

    it("challenges for the same scope, with error=invalid_token, when the bearer token is not valid", async () => {
      const response = await bearer("not.a.token").fetch("/v2/team/app/manifests/v1");
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(`${challenge("repository:team/app:pull")},error="invalid_token"`);
    });

    it("challenges for the same scope when Basic credentials are wrong", async () => {
      const response = await new AuthorizedClient(stack.registryUrl, basic("reader", "wrong")).fetch("/v2/hello/blobs/uploads/", { method: "POST" });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(challenge("repository:hello:pull,push"));
    });

    it("names the realm and service after the Host the client used", async () => {
      const alias = "registry.internal.example:5000";
      const url = new URL(stack.registryUrl);
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        httpGet({ host: url.hostname, port: url.port, path: "/v2/hello/tags/list", headers: { Host: alias } }, resolve).on("error", reject);
      });
      response.resume();
      expect(response.statusCode).toBe(401);
      expect(response.headers["www-authenticate"]).toBe(`Bearer realm="http://${alias}/oauth2/token",service="${alias}",scope="repository:hello:pull"`);
    });

    it("lets a Docker-style client follow the challenge: ask for exactly the challenged scope, then retry", async () => {
      const first = await anonymous.fetch("/v2/hello/manifests/v1");
      const header = first.headers.get("www-authenticate")!;
      const params = Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
      const tokenResponse = await fetch(`${params.realm}?service=${encodeURIComponent(params.service!)}&scope=${encodeURIComponent(params.scope!)}`, {
        headers: { Authorization: basic("reader", readerPassword) },
      });
      expect(tokenResponse.status).toBe(200);
      const { token } = (await tokenResponse.json()) as TokenResponse;
      const retry = await bearer(token).fetch("/v2/hello/manifests/v1", { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
      expect(retry.status).toBe(200);
      expect(Buffer.from(await retry.arrayBuffer()).equals(seeded.manifest)).toBe(true);
    });
  });

  describe("what a token may do", () => {
    it("lets a token with the scope pull", async () => {
      const token = await accessToken("reader", readerPassword, ["repository:team/app:pull"]);
      const response = await bearer(token).fetch("/v2/team/app/tags/list");
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ name: "team/app", tags: ["v1"] });
    });

    it("answers 401 with error=insufficient_scope, challenging for what is needed, to a valid token without the scope, and changes nothing", async () => {
      const pullOnly = bearer(await accessToken("reader", readerPassword, ["repository:hello:pull"]));
      const insufficient = (scope: string): string => `Bearer realm="http://${host}/oauth2/token",service="${host}",scope="${scope}",error="insufficient_scope"`;
      const upload = await pullOnly.fetch("/v2/hello/blobs/uploads/", { method: "POST" });
      expect(upload.status).toBe(401);
      expect(upload.headers.get("www-authenticate")).toBe(insufficient("repository:hello:pull,push"));
      expect(upload.headers.get("location")).toBeNull();
      // reader may push to hello: the message sends the client back to the token server.
      expect(await upload.json()).toEqual({
        errors: [
          {
            code: "UNAUTHORIZED",
            message: "the access token does not grant repository:hello:push; request a token with that scope",
            detail: [{ type: "repository", name: "hello", actions: ["push"] }],
          },
        ],
      });
      const put = await pullOnly.putManifest("hello", "denied", seeded.manifest);
      expect(put.status).toBe(401);
      expect(put.headers.get("www-authenticate")).toBe(insufficient("repository:hello:pull,push"));
      const remove = await pullOnly.fetch(`/v2/hello/manifests/${seeded.digest}`, { method: "DELETE" });
      expect(remove.status).toBe(401);
      expect(remove.headers.get("www-authenticate")).toBe(insufficient("repository:hello:delete"));
      const otherRepository = await pullOnly.fetch("/v2/team/app/tags/list");
      expect(otherRepository.status).toBe(401);
      expect(otherRepository.headers.get("www-authenticate")).toBe(insufficient("repository:team/app:pull"));
      expect(await errorCode(otherRepository)).toBe("UNAUTHORIZED");
      const catalog = await pullOnly.fetch("/v2/_catalog");
      expect(catalog.status).toBe(401);
      expect(catalog.headers.get("www-authenticate")).toBe(insufficient("registry:catalog:*"));

      const tags = await pullOnly.fetch("/v2/hello/tags/list");
      expect(tags.status).toBe(200);
      expect(((await tags.json()) as { tags: string[] }).tags).toEqual(["v1"]);
      expect((await pullOnly.fetch("/v2/hello/manifests/denied", { method: "HEAD" })).status).toBe(404);
    });

    it("names the scope and says the token may not have it when its scope map does not allow it", async () => {
      const nothing = bearer(await accessToken("reader", readerPassword, ["repository:other/thing:pull"]));
      const response = await nothing.fetch("/v2/other/thing/tags/list");
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(
        `Bearer realm="http://${host}/oauth2/token",service="${host}",scope="repository:other/thing:pull",error="insufficient_scope"`,
      );
      const body = (await response.json()) as { errors: Array<{ code: string; message: string }> };
      expect(body.errors[0]).toMatchObject({
        code: "UNAUTHORIZED",
        message: 'the access token does not grant repository:other/thing:pull, and token "reader" may not have it: its scope map does not allow it',
      });
    });

    it("lets a client follow an insufficient_scope challenge: ask for the challenged scope, then push", async () => {
      const pullOnly = bearer(await accessToken("reader", readerPassword, ["repository:hello:pull"]));
      const refused = await pullOnly.fetch("/v2/hello/blobs/uploads/", { method: "POST" });
      expect(refused.status).toBe(401);
      const params = challengeParams(refused.headers.get("www-authenticate")!);
      expect(params.error).toBe("insufficient_scope");
      const pusher = bearer(await accessTokenFor(params, "reader", readerPassword));
      const started = await pusher.fetch("/v2/hello/blobs/uploads/", { method: "POST" });
      expect(started.status).toBe(202);
      expect(started.headers.get("location")).toMatch(/^\/v2\/hello\/blobs\/uploads\//);
      await pusher.fetch(started.headers.get("location")!, { method: "DELETE" });
    });

    it("ends with UNAUTHORIZED naming the scope when the token server cannot grant what the challenge asks", async () => {
      // reader may not delete from hello: the token it gets after the challenge still lacks it.
      const first = await bearer(await accessToken("reader", readerPassword, ["repository:hello:pull"])).fetch(`/v2/hello/manifests/${seeded.digest}`, {
        method: "DELETE",
      });
      expect(first.status).toBe(401);
      const params = challengeParams(first.headers.get("www-authenticate")!);
      expect(params.scope).toBe("repository:hello:delete");
      const retried = bearer(await accessTokenFor(params, "reader", readerPassword));
      const second = await retried.fetch(`/v2/hello/manifests/${seeded.digest}`, { method: "DELETE" });
      expect(second.status).toBe(401);
      const body = (await second.json()) as { errors: Array<{ code: string; message: string }> };
      expect(body.errors[0]!.code).toBe("UNAUTHORIZED");
      expect(body.errors[0]!.message).toContain("repository:hello:delete");
      expect(body.errors[0]!.message).toContain("may not have it");
      expect((await seeder.fetch(`/v2/hello/manifests/${seeded.digest}`, { method: "HEAD", headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } })).status).toBe(200);
    });

    it("lets the bearer token push what it was granted", async () => {
      const pusher = bearer(await accessToken("reader", readerPassword, ["repository:hello:pull,push"]));
      const image = await pusher.pushImage("hello", "pushed-with-bearer");
      const response = await pusher.fetch("/v2/hello/manifests/pushed-with-bearer", { method: "HEAD", headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
      expect(response.status).toBe(200);
      expect(response.headers.get("docker-content-digest")).toBe(image.digest);
    });

    it("accepts Basic credentials sent straight to /v2/, within the token's scope map", async () => {
      const direct = new AuthorizedClient(stack.registryUrl, basic("reader", readerPassword));
      expect((await direct.fetch("/v2/")).status).toBe(200);
      expect((await direct.fetch("/v2/team/tools/cli/tags/list")).status).toBe(200);
      await direct.pushImage("hello", "pushed-with-basic");
      expect((await direct.fetch("/v2/hello/manifests/pushed-with-basic", { method: "HEAD" })).status).toBe(200);
      const denied = await direct.fetch("/v2/other/thing/tags/list");
      expect(denied.status).toBe(403);
      expect(await errorCode(denied)).toBe("DENIED");
      expect((await direct.fetch(`/v2/hello/manifests/${seeded.digest}`, { method: "DELETE" })).status).toBe(403);
    });

    it("lists in the catalog only the repositories the token may read", async () => {
      const token = await accessToken("reader", readerPassword, ["registry:catalog:*"]);
      const response = await bearer(token).fetch("/v2/_catalog");
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ repositories: ["hello", "solo", "team/app", "team/tools/cli"] });

      const viaBasic = await new AuthorizedClient(stack.registryUrl, basic("reader", readerPassword)).fetch("/v2/_catalog");
      expect(await viaBasic.json()).toEqual({ repositories: ["hello", "solo", "team/app", "team/tools/cli"] });
    });

    it("fills catalog pages with readable repositories, skipping the others", async () => {
      const client = bearer(await accessToken("reader", readerPassword, ["registry:catalog:*"]));
      const seen: string[] = [];
      let path: string | undefined = "/v2/_catalog?n=2";
      while (path) {
        const response: Response = await client.fetch(path);
        expect(response.status).toBe(200);
        const body = (await response.json()) as { repositories: string[] };
        expect(body.repositories.length).toBeLessThanOrEqual(2);
        seen.push(...body.repositories);
        const link = response.headers.get("link");
        path = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : undefined;
      }
      expect(seen).toEqual(["hello", "solo", "team/app", "team/tools/cli"]);
    });

    it("lists every repository to a token that may read them all", async () => {
      await createToken("allreader", { scopeMap: "_repositories_pull" });
      const token = await accessToken("allreader", await generatePassword("allreader"), ["registry:catalog:*"]);
      const body = (await (await bearer(token).fetch("/v2/_catalog")).json()) as { repositories: string[] };
      expect(body.repositories).toEqual([...repositories].sort());
    });
  });

  describe("cross-repository mounts", () => {
    const mountPath = (into: string, digest: string, from: string): string => `/v2/${into}/blobs/uploads/?mount=${digest}&from=${from}`;
    const blobIn = async (repository: string, digest: string): Promise<number> =>
      (await seeder.fetch(`/v2/${repository}/blobs/${digest}`, { method: "HEAD" })).status;

    it("challenges an anonymous mount for the source's pull too, in one space-separated scope", async () => {
      const digest = await seeder.pushBlob("team/app", randomBytes(64));
      const response = await anonymous.fetch(mountPath("hello", digest, "team/app"), { method: "POST" });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(
        `Bearer realm="http://${host}/oauth2/token",service="${host}",scope="repository:hello:pull,push repository:team/app:pull"`,
      );
    });

    it("challenges a token that may push but lacks the source's pull, and mounts (201) once the client follows the challenge", async () => {
      const digest = await seeder.pushBlob("team/app", randomBytes(64));
      const pushOnly = bearer(await accessToken("reader", readerPassword, ["repository:hello:pull,push"]));
      const first = await pushOnly.fetch(mountPath("hello", digest, "team/app"), { method: "POST" });
      expect(first.status).toBe(401);
      const params = challengeParams(first.headers.get("www-authenticate")!);
      expect(params).toMatchObject({ scope: "repository:hello:pull,push repository:team/app:pull", error: "insufficient_scope" });
      expect(((await first.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toContain("repository:team/app:pull");

      const both = bearer(await accessTokenFor(params, "reader", readerPassword));
      const mounted = await both.fetch(mountPath("hello", digest, "team/app"), { method: "POST" });
      expect(mounted.status).toBe(201);
      expect(mounted.headers.get("location")).toBe(`/v2/hello/blobs/${digest}`);
      expect(mounted.headers.get("docker-content-digest")).toBe(digest);
      expect(await blobIn("hello", digest)).toBe(200);
    });

    it("starts an ordinary upload (202), without a challenge, when the token may not read the source", async () => {
      const digest = await seeder.pushBlob("other/thing", randomBytes(64));
      const pusher = bearer(await accessToken("reader", readerPassword, ["repository:hello:pull,push", "repository:other/thing:pull"]));
      const response = await pusher.fetch(mountPath("hello", digest, "other/thing"), { method: "POST" });
      expect(response.status).toBe(202);
      expect(response.headers.get("location")).toMatch(/^\/v2\/hello\/blobs\/uploads\//);
      expect(await blobIn("hello", digest)).toBe(404);
      await pusher.fetch(response.headers.get("location")!, { method: "DELETE" });
    });

    it("mounts with Basic credentials whose scope map reads the source, and uploads otherwise", async () => {
      const direct = new AuthorizedClient(stack.registryUrl, basic("reader", readerPassword));
      const readable = await seeder.pushBlob("team/app", randomBytes(64));
      expect((await direct.fetch(mountPath("hello", readable, "team/app"), { method: "POST" })).status).toBe(201);
      expect(await blobIn("hello", readable)).toBe(200);
      const hidden = await seeder.pushBlob("other/thing", randomBytes(64));
      const fallback = await direct.fetch(mountPath("hello", hidden, "other/thing"), { method: "POST" });
      expect(fallback.status).toBe(202);
      expect(await blobIn("hello", hidden)).toBe(404);
      await direct.fetch(fallback.headers.get("location")!, { method: "DELETE" });
    });
  });

  describe("changes to a token's grant", () => {
    const readOn = (name: string): string => `repositories/${name}/content/read`;

    it(`stops an old access token within TOKEN_STATE_SECONDS of a change to its scope map, and a new one gets the new grant`, async () => {
      await managementOk("POST", "scopeMaps", { name: "shifting-map", actions: [readOn("team/app")] });
      await createToken("shifter", { scopeMap: "shifting-map" });
      const password = await generatePassword("shifter");
      const scopes = ["repository:team/app:pull repository:hello:pull"];
      const old = await accessToken("shifter", password, scopes);
      expect(claimsOf(old).access).toEqual([{ type: "repository", name: "team/app", actions: ["pull"] }]);
      expect((await bearer(old).fetch("/v2/team/app/tags/list")).status).toBe(200);

      await nextSecond();
      await managementOk("PATCH", "scopeMaps/shifting-map", { addActions: [readOn("hello")], removeActions: [readOn("team/app")] });
      await sleep(TOKEN_STATE_SECONDS * 1000 + 200);

      const stale = await bearer(old).fetch("/v2/team/app/tags/list");
      expect(stale.status).toBe(401);
      expect(stale.headers.get("www-authenticate")).toBe(
        `Bearer realm="http://${host}/oauth2/token",service="${host}",scope="repository:team/app:pull",error="invalid_token"`,
      );

      const fresh = await accessToken("shifter", password, scopes);
      expect(claimsOf(fresh).access).toEqual([{ type: "repository", name: "hello", actions: ["pull"] }]);
      expect((await bearer(fresh).fetch("/v2/hello/tags/list")).status).toBe(200);
      expect((await bearer(fresh).fetch("/v2/team/app/tags/list")).status).toBe(401);
    });

    it("stops an old access token within TOKEN_STATE_SECONDS of the token moving to another scope map", async () => {
      await managementOk("POST", "scopeMaps", { name: "mover-map", actions: [readOn("solo")] });
      await createToken("mover", { scopeMap: "_repositories_pull" });
      const password = await generatePassword("mover");
      const old = await accessToken("mover", password, ["repository:team/app:pull"]);
      expect((await bearer(old).fetch("/v2/team/app/tags/list")).status).toBe(200);

      await nextSecond();
      await managementOk("PATCH", "tokens/mover", { scopeMap: "mover-map" });
      await sleep(TOKEN_STATE_SECONDS * 1000 + 200);

      expect((await bearer(old).fetch("/v2/team/app/tags/list")).status).toBe(401);
      const fresh = await accessToken("mover", password, ["repository:team/app:pull", "repository:solo:pull"]);
      expect(claimsOf(fresh).access).toEqual([{ type: "repository", name: "solo", actions: ["pull"] }]);
    });

    it("stops an old access token within TOKEN_STATE_SECONDS of the token being disabled", async () => {
      await createToken("quitter", { repositories: [{ name: "hello", actions: ["content/read"] }] });
      const password = await generatePassword("quitter");
      const old = await accessToken("quitter", password, ["repository:hello:pull"]);
      expect((await bearer(old).fetch("/v2/hello/tags/list")).status).toBe(200);

      await managementOk("PATCH", "tokens/quitter", { status: "disabled" });
      await sleep(TOKEN_STATE_SECONDS * 1000 + 200);

      expect((await bearer(old).fetch("/v2/hello/tags/list")).status).toBe(401);
    });

    it("stops an old access token even when its scope map changed in the same second it was issued", async () => {
      // iat has one-second resolution: a change later in the same second must still revoke the grant.
      let sameSecond: string | undefined;
      for (let attempt = 0; attempt < 5 && !sameSecond; attempt++) {
        const name = `race-map-${attempt}`;
        await managementOk("POST", "scopeMaps", { name, actions: [readOn("hello")] });
        await createToken(`racer-${attempt}`, { scopeMap: name });
        const password = await generatePassword(`racer-${attempt}`);
        await nextSecond();
        const token = await accessToken(`racer-${attempt}`, password, ["repository:hello:pull"]);
        const changed = await managementOk<{ updatedAt: string }>("PATCH", `scopeMaps/${name}`, { addActions: [readOn("solo")], removeActions: [readOn("hello")] });
        if (Math.floor(Date.parse(changed.updatedAt) / 1000) === claimsOf(token).iat) sameSecond = token;
      }
      expect(sameSecond, "could not issue a token and change its scope map within one second").toBeDefined();
      await sleep(TOKEN_STATE_SECONDS * 1000 + 200);

      // The scope map no longer allows pulling hello: a new token is not granted it, and the old grant must stop too.
      expect(claimsOf(sameSecond!).access).toEqual([{ type: "repository", name: "hello", actions: ["pull"] }]);
      expect((await bearer(sameSecond!).fetch("/v2/hello/tags/list")).status).toBe(401);
    });
  });
});
