/**
 * End-to-end tests of tokens and scope maps with the real podman and skopeo clients,
 * against the local stack with authentication on: what a user who was given a token
 * that may only read `hello-world` can and cannot do, and what happens when an operator
 * disables that token.
 *
 * Everything is set up the way an operator would: through the management API (with the
 * admin key), and images are pushed with skopeo using a token on the system scope map
 * `_repositories_admin`. Each test gets its own podman store and auth file.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { tarWithOneFile, writeDockerDirImage, writeMultiArchOciLayout, type DockerDirImage, type MultiArchLayout } from "../support/oci-layout.js";
import { Podman } from "../support/podman.js";
import { Skopeo, type Credentials } from "../support/skopeo.js";
import { startTestStack, TEST_ADMIN_KEY, type TestStack } from "../support/stack.js";

/** The management API, called with the admin key; every call checks the status it expects. */
class Management {
  constructor(private readonly baseUrl: string) {}

  async call(method: string, path: string, body: unknown, expectedStatus: number): Promise<unknown> {
    const response = await fetch(`${this.baseUrl}/management/${path}`, {
      method,
      headers: { Authorization: `Bearer ${TEST_ADMIN_KEY}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (response.status !== expectedStatus) {
      throw new Error(`${method} /management/${path} answered ${response.status}, expected ${expectedStatus}: ${text}`);
    }
    return text ? JSON.parse(text) : undefined;
  }

  createScopeMap(name: string, actions: string[]): Promise<unknown> {
    return this.call("POST", "scopeMaps", { name, actions }, 201);
  }

  createToken(name: string, scopeMap: string): Promise<unknown> {
    return this.call("POST", "tokens", { name, scopeMap }, 201);
  }

  /** Generates password1 and returns the credentials a client logs in with. */
  async generatePassword1(token: string): Promise<Credentials> {
    const answer = (await this.call("POST", `tokens/${token}/credentials/generate`, { name: "password1" }, 200)) as {
      username: string;
      passwords: { name: string; value: string }[];
    };
    const password = answer.passwords.find((p) => p.name === "password1")?.value;
    if (!password) throw new Error(`credentials/generate returned no password1: ${JSON.stringify(answer)}`);
    return { username: answer.username, password };
  }

  /** A token on `scopeMap` with a fresh password1. */
  async tokenWithPassword(name: string, scopeMap: string): Promise<Credentials> {
    await this.createToken(name, scopeMap);
    return this.generatePassword1(name);
  }

  setTokenStatus(token: string, status: "enabled" | "disabled"): Promise<unknown> {
    return this.call("PATCH", `tokens/${token}`, { status }, 200);
  }
}

/** The platform podman resolves an image index to on this machine. */
function hostArchitecture(): string {
  const byNodeArch: Record<string, string> = { x64: "amd64", arm64: "arm64" };
  const architecture = byNodeArch[process.arch];
  if (!architecture) throw new Error(`the test image has no platform for ${process.arch}`);
  return architecture;
}

/** What registry clients print when the registry refuses credentials or access. */
const REFUSED = /denied|unauthorized|authentication required/i;

describe("tokens and scope maps with podman and skopeo (authentication on)", () => {
  const reader = "hello-reader";
  const readerScopeMap = "hello-world-read";
  let stack: TestStack;
  let host: string;
  let management: Management;
  let skopeo: Skopeo;
  let workDir: string;
  let admin: Credentials;
  let readerCreds: Credentials;
  let helloWorld: MultiArchLayout;
  let anotherRepo: DockerDirImage;
  let podman: Podman;

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    host = stack.registryHost;
    management = new Management(stack.registryUrl);
    skopeo = await Skopeo.create();
    workDir = await mkdtemp(join(tmpdir(), "identity-e2e-"));

    // The operator's push token, on the system scope map that may do everything.
    admin = await management.tokenWithPassword("seed-admin", "_repositories_admin");

    // hello-world:latest is an OCI index with linux/amd64 and linux/arm64 images, as the real one.
    helloWorld = await writeMultiArchOciLayout(join(workDir, "hello-world"), { tag: "latest", seed: "identity/hello-world" });
    await skopeo.copy(`oci:${helloWorld.dir}:latest`, `docker://${host}/hello-world:latest`, admin, ["--all"]);
    // A repository the reader's scope map does not name, holding a real image.
    anotherRepo = await writeDockerDirImage(join(workDir, "another-repo"), { seed: "identity/another-repo" });
    await skopeo.copy(`dir:${anotherRepo.dir}`, `docker://${host}/another-repo:v1`, admin);

    await management.createScopeMap(readerScopeMap, ["repositories/hello-world/content/read", "repositories/hello-world/metadata/read"]);
    readerCreds = await management.tokenWithPassword(reader, readerScopeMap);
  });

  afterAll(async () => {
    await stack?.destroy();
    await skopeo?.dispose();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    podman = await Podman.create();
  });

  afterEach(async () => {
    await podman?.dispose();
  });

  it("challenges anonymous clients on /v2/ to get a token from its token server", async () => {
    // Guards every refusal below: the registry really has authentication on.
    const response = await fetch(`${stack.registryUrl}/v2/`);
    await response.arrayBuffer();
    expect(response.status).toBe(401);
    const challenge = response.headers.get("www-authenticate") ?? "";
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain(`realm="${stack.registryUrl}/oauth2/token"`);
    expect(challenge).toContain(`service="${host}"`);
  });

  it("lets podman log in with a token and pull what its scope map allows", async () => {
    const login = await podman.login(host, readerCreds.username, readerCreds.password);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain("Login Succeeded");
    expect((await podman.getLogin(host)).stdout.trim()).toBe(reader);

    const pull = await podman.pull(`${host}/hello-world:latest`);
    expect(pull.code, pull.stderr).toBe(0);

    // podman resolved the index to this machine's platform and stored that image.
    const expected = helloWorld.platforms.find((p) => p.platform.os === "linux" && p.platform.architecture === hostArchitecture())!;
    const image = await podman.inspectImage(`${host}/hello-world:latest`);
    expect(image).toBeDefined();
    expect(image!.Digest).toBe(helloWorld.indexDigest);
    expect(image!.RepoTags).toContain(`${host}/hello-world:latest`);
    expect(image!.RepoDigests).toEqual(
      expect.arrayContaining([`${host}/hello-world@${helloWorld.indexDigest}`, `${host}/hello-world@${expected.manifestDigest}`]),
    );
    expect(`sha256:${image!.Id}`).toBe(expected.configDigest);
    expect(image!.Architecture).toBe(expected.platform.architecture);
    expect(image!.Os).toBe("linux");
  });

  it("refuses a podman push of a new image to hello-world with a read-only token", async () => {
    expect((await podman.login(host, readerCreds.username, readerCreds.password)).code).toBe(0);
    const tarFile = join(podman.dir, "layer.tar");
    await writeFile(tarFile, tarWithOneFile("pushed.txt", randomBytes(64)));
    await podman.importTar(tarFile, `${host}/hello-world:other`);

    const push = await podman.push(`${host}/hello-world:other`);
    expect(push.code, `podman push succeeded:\n${push.stderr}`).not.toBe(0);
    expect(push.stderr).toMatch(REFUSED);

    // Nothing was tagged: the admin still sees only what it pushed.
    expect(await skopeo.listTags(`docker://${host}/hello-world`, admin)).toEqual(["latest"]);
  });

  it("refuses a podman push of the image it just pulled under another hello-world tag", async () => {
    // Every blob is already in the repository, so only the manifest PUT is left to refuse.
    expect((await podman.login(host, readerCreds.username, readerCreds.password)).code).toBe(0);
    expect((await podman.pull(`${host}/hello-world:latest`)).code).toBe(0);
    await podman.tag(`${host}/hello-world:latest`, `${host}/hello-world:other`);

    const push = await podman.push(`${host}/hello-world:other`);
    expect(push.code, `podman push succeeded:\n${push.stderr}`).not.toBe(0);
    expect(push.stderr).toMatch(REFUSED);
    expect(await skopeo.listTags(`docker://${host}/hello-world`, admin)).toEqual(["latest"]);
  });

  it("refuses skopeo inspect of a repository the token's scope map does not name", async () => {
    // another-repo exists and the admin token reads it: a refusal is about permission, not absence.
    const raw = await skopeo.inspectRaw(`docker://${host}/another-repo:v1`, admin);
    expect(Buffer.from(raw).equals(anotherRepo.manifest)).toBe(true);

    const error = await skopeo.inspectRaw(`docker://${host}/another-repo:v1`, readerCreds).then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(error, "skopeo inspect with the hello-world token succeeded").toBeDefined();
    expect(error!.message).toMatch(REFUSED);
    expect(error!.message).not.toMatch(/manifest unknown|name unknown|not found/i);
  });

  it("forgets the credentials on podman logout, after which pulls are refused", async () => {
    expect((await podman.login(host, readerCreds.username, readerCreds.password)).code).toBe(0);
    expect(await podman.loggedInTo()).toEqual([host]);

    const logout = await podman.logout(host);
    expect(logout.code, logout.stderr).toBe(0);
    expect(logout.stdout).toContain(`Removed login credentials for ${host}`);
    expect(await podman.loggedInTo()).toEqual([]);
    expect((await podman.getLogin(host)).code).not.toBe(0);

    const pull = await podman.pull(`${host}/hello-world:latest`);
    expect(pull.code, "podman pull succeeded after logout").not.toBe(0);
    expect(pull.stderr).toMatch(REFUSED);
    expect(await podman.inspectImage(`${host}/hello-world:latest`)).toBeUndefined();
  });

  it("refuses a podman login with a wrong password and stores nothing", async () => {
    const login = await podman.login(host, readerCreds.username, `${readerCreds.password}x`);
    expect(login.code, "podman login with a wrong password succeeded").not.toBe(0);
    expect(login.stderr).toMatch(/invalid username\/password/i);
    expect(await podman.loggedInTo()).toEqual([]);
  });

  it("refuses podman once its token is disabled, and says the token is disabled", async () => {
    const name = "disabled-later";
    const creds = await management.tokenWithPassword(name, readerScopeMap);
    expect((await podman.login(host, creds.username, creds.password)).code).toBe(0);
    expect((await podman.pull(`${host}/hello-world:latest`)).code).toBe(0);

    expect(await management.setTokenStatus(name, "disabled")).toMatchObject({ name, status: "disabled" });

    // The credentials podman stored no longer pull, and podman shows the registry's reason.
    const pull = await podman.pull(`${host}/hello-world:latest`);
    expect(pull.code, "podman pull with a disabled token succeeded").not.toBe(0);
    expect(pull.stderr).toContain(`token "${name}" is disabled`);

    // Logging in again fails. podman prints only "invalid username/password" for any 401
    // at login and logs the registry's message at debug level.
    const login = await podman.login(host, creds.username, creds.password);
    expect(login.code, "podman login with a disabled token succeeded").not.toBe(0);
    expect(login.stderr).toMatch(/invalid username\/password/i);
    const debugLogin = await podman.login(host, creds.username, creds.password, { logLevel: "debug" });
    expect(debugLogin.code, "podman login with a disabled token succeeded").not.toBe(0);
    // logrus quotes the message, escaping its inner quotes.
    expect(debugLogin.stderr).toMatch(new RegExp(`token \\\\?"${name}\\\\?" is disabled`));
  });
});
