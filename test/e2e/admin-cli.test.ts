/**
 * End-to-end tests of the admin CLI (issue 7, part 4): the built `registry-admin` bin
 * (dist/scripts/admin-cli/main.js) run as a child process against the real local stack
 * with authentication on, driving the whole quickstart of the README: a scope map and a
 * client token, an image pushed to the cloud, a connected registry with that client token,
 * its connection string from get-settings, the edge agent started with it, and
 * `podman login` + `podman pull` at the edge. Then what scripts rely on: the JSON shapes,
 * the exit codes (1 refused, 2 usage, 3 unreachable) with their messages, import with its
 * progress, and the repository verbs over /v2/.
 *
 * The CLI gets its endpoint and admin key from REGISTRY_ENDPOINT / REGISTRY_ADMIN_KEY, in an
 * environment that holds nothing else of the machine's (no REGISTRY_* of the user leaks in).
 */
import { execFile, type ExecFileException } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, removeEdgeData, startEdge, type EdgeProcess } from "../support/edge.js";
import { writeMultiArchOciLayout, type MultiArchLayout } from "../support/oci-layout.js";
import { Podman } from "../support/podman.js";
import { Skopeo, type Credentials } from "../support/skopeo.js";
import { startTestStack, TEST_ADMIN_KEY, type TestStack } from "../support/stack.js";

const ROOT = join(import.meta.dirname, "../..");
const BIN = join(ROOT, "dist/scripts/admin-cli/main.js");

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The platform podman resolves an image index to on this machine. */
function hostArchitecture(): string {
  const byNodeArch: Record<string, string> = { x64: "amd64", arm64: "arm64" };
  const architecture = byNodeArch[process.arch];
  if (!architecture) throw new Error(`the test image has no platform for ${process.arch}`);
  return architecture;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("registry-admin, the admin CLI, against the local stack (authentication on)", () => {
  let stack: TestStack;
  let skopeo: Skopeo;
  let podman: Podman;
  let workDir: string;
  let edge: EdgeProcess | undefined;
  let helloWorld: MultiArchLayout;
  /** A token on _repositories_admin, made with the CLI: pushes, and the repository verbs. */
  let pusher: Credentials;
  let shopfloorPassword: string;

  /** Runs the built CLI; never throws for a non-zero exit (tests assert on it). */
  function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
    const base = { PATH: process.env.PATH, HOME: workDir, REGISTRY_ENDPOINT: stack.registryUrl, REGISTRY_ADMIN_KEY: TEST_ADMIN_KEY };
    const merged = Object.fromEntries(Object.entries({ ...base, ...env }).filter(([, value]) => value !== undefined)) as NodeJS.ProcessEnv;
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [BIN, ...args], { env: merged, timeout: 120_000, killSignal: "SIGKILL" }, (error: ExecFileException | null, stdout, stderr) => {
        if (error && (error.killed || error.signal)) reject(new Error(`registry-admin ${args.join(" ")} did not finish (signal ${error.signal})\n${stderr}`));
        else if (error && typeof error.code !== "number") reject(error);
        else resolve({ code: error ? Number(error.code) : 0, stdout: String(stdout), stderr: String(stderr) });
      });
    });
  }

  /** Runs the CLI, expects exit 0, and parses its `--output json`. */
  async function cliJson<T = any>(args: string[], env: Record<string, string | undefined> = {}): Promise<T> {
    const result = await cli([...args, "--output", "json"], env);
    expect(result.code, `registry-admin ${args.join(" ")}: ${result.stderr}`).toBe(0);
    return JSON.parse(result.stdout) as T;
  }

  /** The repository verbs authenticate with a token, here from the environment. */
  const asPusher = (): Record<string, string> => ({ REGISTRY_USERNAME: pusher.username, REGISTRY_PASSWORD: pusher.password });

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    skopeo = await Skopeo.create();
    podman = await Podman.create();
    workDir = await mkdtemp(join(tmpdir(), "admin-cli-e2e-"));
    helloWorld = await writeMultiArchOciLayout(join(workDir, "hello-world"), { tag: "latest", seed: "admin-cli/hello-world" });
  });

  afterAll(async () => {
    if (edge) {
      await edge.stop().catch(() => edge!.kill());
      await removeEdgeData(edge.dataDir);
    }
    await podman?.dispose();
    await skopeo?.dispose();
    await stack?.destroy();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("is the package's registry-admin bin, a node script", async () => {
    const manifest = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { bin?: Record<string, string> };
    expect(manifest.bin?.["registry-admin"]).toBe("dist/scripts/admin-cli/main.js");
    expect((await readFile(BIN, "utf8")).startsWith("#!/usr/bin/env node\n")).toBe(true);
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("connected-registry get-settings");
  });

  it("drives the quickstart: scope map, client token, connected registry, get-settings, edge agent, podman login and pull at the edge", async () => {
    // A client token that may pull hello-world.
    const scopeMap = await cli(["scope-map", "create", "--name", "hello-pull", "--repository", "hello-world", "content/read", "metadata/read", "--description", "pull hello-world"]);
    expect(scopeMap.code, scopeMap.stderr).toBe(0);
    expect(scopeMap.stdout).toMatch(/^Name\s+hello-pull$/m);
    expect(scopeMap.stdout).toMatch(/^Actions\s+repositories\/hello-world\/content\/read\n\s+repositories\/hello-world\/metadata\/read$/m);

    const token = await cli(["token", "create", "--name", "shopfloor", "--scope-map", "hello-pull", "--no-passwords"]);
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout).toMatch(/^Scope map\s+hello-pull$/m);
    const generated = await cliJson(["token", "credential", "generate", "--name", "shopfloor", "--password1", "--expiration-in-days", "30"]);
    expect(generated.username).toBe("shopfloor");
    expect(generated.passwords).toHaveLength(1);
    expect(generated.passwords[0]).toMatchObject({ name: "password1", value: expect.any(String), expiry: expect.any(String) });
    const expiresIn = Date.parse(generated.passwords[0].expiry) - Date.now();
    expect(expiresIn).toBeGreaterThan(29 * 86_400_000);
    expect(expiresIn).toBeLessThanOrEqual(30 * 86_400_000);
    shopfloorPassword = generated.passwords[0].value;

    // The operator's push token, and hello-world:latest (an index with two platforms) in the cloud.
    expect((await cli(["token", "create", "--name", "seed-admin", "--scope-map", "_repositories_admin"])).code).toBe(0);
    const seed = await cliJson(["token", "credential", "generate", "--name", "seed-admin", "--password1"]);
    pusher = { username: seed.username, password: seed.passwords[0].value };
    await skopeo.copy(`oci:${helloWorld.dir}:latest`, `docker://${stack.registryHost}/hello-world:latest`, pusher, ["--all"]);

    // A ReadOnly connected registry for hello-world with that client token, and its connection string.
    const created = await cliJson(["connected-registry", "create", "--name", "factory1", "--mode", "readonly", "--repository", "hello-world", "--client-tokens", "shopfloor"]);
    expect(created).toMatchObject({
      name: "factory1",
      mode: "ReadOnly",
      parent: null,
      repositories: ["hello-world"],
      syncToken: "factory1-sync-token",
      clientTokens: ["shopfloor"],
      connectionState: "Offline",
      activation: { status: "Inactive" },
    });
    const settings = await cliJson<Record<string, string | null> & { connectionString: string }>(["connected-registry", "get-settings", "--name", "factory1", "--parent-protocol", "http", "--generate-password", "1"]);
    expect(settings.connectionString).toMatch(
      new RegExp(`^ConnectedRegistryName=factory1;SyncTokenName=factory1-sync-token;SyncTokenPassword=[^;]+;ParentGatewayEndpoint=${stack.registryHost.replace(/\./g, "\\.")};ParentEndpointProtocol=http$`),
    );
    // ACR's keys too, for scripts written against `az acr connected-registry get-settings`.
    expect(settings).toMatchObject({
      ACR_REGISTRY_CONNECTION_STRING: settings.connectionString,
      ACR_REGISTRY_LOGIN_SERVER: null,
      SYNC_TOKEN_USER: "factory1-sync-token",
      SYNC_TOKEN_PASSWORD: /SyncTokenPassword=([^;]+)/.exec(settings.connectionString)![1],
    });

    // The edge agent, started with it, syncs hello-world.
    edge = await startEdge({ connectionString: settings.connectionString });
    await eventually(
      async () => {
        const status = await edge!.status();
        return status.fullSyncDone && status.lastSyncTime ? status : undefined;
      },
      90_000,
      "the edge agent fully synced",
    );

    // At the edge: podman login with the client token, and pull.
    const login = await podman.login(edge.host, "shopfloor", shopfloorPassword);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain("Login Succeeded");
    const pull = await podman.pull(`${edge.host}/hello-world:latest`);
    expect(pull.code, pull.stderr).toBe(0);
    const image = await podman.inspectImage(`${edge.host}/hello-world:latest`);
    const expected = helloWorld.platforms.find((p) => p.platform.architecture === hostArchitecture())!;
    expect(image?.Digest).toBe(helloWorld.indexDigest);
    expect(`sha256:${image!.Id}`).toBe(expected.configDigest);

    // The cloud sees the edge: activated, with a sync time, in show and in list.
    const shown = await eventually(
      async () => {
        const registry = await cliJson(["connected-registry", "show", "--name", "factory1"]);
        return registry.activation.status === "Active" && registry.lastSyncTime ? registry : undefined;
      },
      30_000,
      "factory1 active with a last sync time",
    );
    expect(shown.connectionState).not.toBe("Offline");
    const list = await cli(["connected-registry", "list"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+MODE\s+CONNECTION STATE\s+ACTIVATION\s+PARENT\s+REPOSITORIES\s+LAST SYNC\s+TRIGGER\s+PROGRESS\s+USAGE\s+LAG\s+CODES$/m);
    expect(list.stdout).toMatch(/^factory1\s+ReadOnly\s+\w+\s+Active\s+hello-world\s+\d{4}-/m);
    const clientTokens = await cliJson(["connected-registry", "list-client-tokens", "--name", "factory1"]);
    expect(clientTokens.value.map((t: { name: string }) => t.name)).toEqual(["shopfloor"]);
  });

  it("prints the API's JSON with --output json", async () => {
    const scopeMaps = await cliJson(["scope-map", "list"]);
    expect(Object.keys(scopeMaps)).toEqual(["value"]);
    expect(scopeMaps.value.slice(0, 3).map((s: { name: string }) => s.name).sort()).toEqual(["_repositories_admin", "_repositories_pull", "_repositories_push"]);
    expect(scopeMaps.value.find((s: { name: string }) => s.name === "hello-pull")).toMatchObject({
      type: "UserDefined",
      description: "pull hello-world",
      actions: ["repositories/hello-world/content/read", "repositories/hello-world/metadata/read"],
    });

    const token = await cliJson(["token", "show", "--name", "shopfloor"]);
    expect(token).toMatchObject({ name: "shopfloor", scopeMap: "hello-pull", status: "enabled" });
    expect(token.credentials.passwords).toEqual([{ name: "password1", creationTime: expect.any(String), expiry: expect.any(String) }]);
    expect(JSON.stringify(token)).not.toContain(shopfloorPassword);

    // A token on repositories gets the scope map <token>-scope-map, as the API makes it.
    const reader = await cliJson(["token", "create", "--name", "reader", "--repository", "hello-world", "content/read", "--repository", "other", "metadata/read", "--status", "disabled"]);
    expect(reader).toMatchObject({ name: "reader", scopeMap: "reader-scope-map", status: "disabled" });
    expect((await cliJson(["scope-map", "show", "--name", "reader-scope-map"])).actions).toEqual(["repositories/hello-world/content/read", "repositories/other/metadata/read"]);
    expect(await cliJson(["token", "update", "--name", "reader", "--status", "enabled"])).toMatchObject({ status: "enabled" });

    const updated = await cliJson(["scope-map", "update", "--name", "reader-scope-map", "--add-repository", "other", "content/read", "--remove-repository", "hello-world", "content/read"]);
    expect(updated.actions).toEqual(["repositories/other/metadata/read", "repositories/other/content/read"]);

    const tokens = await cliJson(["token", "list"]);
    expect(tokens.value.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(["shopfloor", "seed-admin", "reader", "factory1-sync-token"]));

    // Tables for people: a header, dashes, a row per item.
    const table = await cli(["token", "list"]);
    expect(table.code).toBe(0);
    const [header, dashes] = table.stdout.split("\n");
    expect(header).toMatch(/^NAME\s+SCOPE MAP\s+STATUS\s+PASSWORDS\s+CREATION DATE$/);
    expect(dashes).toMatch(/^-+( +-+)+$/);
    expect(table.stdout).toMatch(/^shopfloor\s+hello-pull\s+enabled\s+password1 \(expires /m);

    // Updates and deletes through the CLI.
    const cr = await cliJson(["connected-registry", "update", "--name", "factory1", "--sync-message-ttl", "P3D", "--log-level", "warning", "--add-notifications", "hello-world:latest:push"]);
    expect(cr).toMatchObject({ messageTtl: "P3D", logging: "Warning", notifications: ["hello-world:latest:push"] });
    expect(await cliJson(["connected-registry", "update", "--name", "factory1", "--remove-notifications", "hello-world:latest:push"])).toMatchObject({ notifications: [] });
    const deleted = await cli(["token", "delete", "--name", "reader"]);
    expect(deleted).toMatchObject({ code: 0, stdout: "" });
    expect((await cli(["token", "show", "--name", "reader"])).code).toBe(1);
  });

  it("exits 1 with the API's error code and message when the API refuses", async () => {
    const again = await cli(["scope-map", "create", "--name", "hello-pull", "--repository", "hello-world", "content/read"]);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe("");
    expect(again.stderr).toMatch(/^error: Conflict \(HTTP 409\): .*hello-pull/m);

    const missing = await cli(["token", "show", "--name", "nosuchtoken"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: NotFound \(HTTP 404\): .*nosuchtoken/m);

    const badAction = await cli(["scope-map", "create", "--name", "typo-map", "--repository", "hello-world", "content/raed"]);
    expect(badAction.code).toBe(1);
    expect(badAction.stderr).toContain('error: InvalidRequest (HTTP 400): ');
    expect(badAction.stderr).toContain('Invalid action "content/raed"');

    // A client token in use cannot be deleted: the API names the connected registry.
    const inUse = await cli(["token", "delete", "--name", "shopfloor", "--yes"]);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/error: \w+ \(HTTP 409\): .*factory1/);

    const wrongKey = await cli(["scope-map", "list"], { REGISTRY_ADMIN_KEY: "not-the-key" });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/^error: Unauthorized \(HTTP 401\)/m);
  });

  it("exits 2 on usage errors, naming the flag or verb", async () => {
    const noName = await cli(["scope-map", "create", "--repository", "hello-world", "content/read"]);
    expect(noName.code).toBe(2);
    expect(noName.stderr).toContain("error: missing required flag --name");
    expect(noName.stderr).toContain("registry-admin scope-map create --help");

    const unknownFlag = await cli(["token", "create", "--name", "x1234", "--scopemap", "hello-pull"]);
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toContain("unknown flag --scopemap");
    expect(unknownFlag.stderr).toContain("did you mean --scope-map?");

    const unknownVerb = await cli(["connected-registry", "sync"]);
    expect(unknownVerb.code).toBe(2);
    expect(unknownVerb.stderr).toContain('unknown command "connected-registry sync"');

    const badChoice = await cli(["connected-registry", "create", "--name", "factory9", "--repository", "x", "--mode", "WriteOnly"]);
    expect(badChoice.code).toBe(2);
    expect(badChoice.stderr).toContain('--mode must be one of ReadWrite, ReadOnly, not "WriteOnly"');

    const noActions = await cli(["scope-map", "create", "--name", "empty-map", "--repository", "hello-world"]);
    expect(noActions.code).toBe(2);
    expect(noActions.stderr).toContain("--repository needs a name and at least one action");

    const noEndpoint = await cli(["scope-map", "list"], { REGISTRY_ENDPOINT: undefined });
    expect(noEndpoint.code).toBe(2);
    expect(noEndpoint.stderr).toContain("missing required flag --endpoint (or set REGISTRY_ENDPOINT, or save it once with registry-admin login --endpoint URL)");

    const noKey = await cli(["scope-map", "list"], { REGISTRY_ADMIN_KEY: undefined });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("--admin-key (or set REGISTRY_ADMIN_KEY, or save it once with registry-admin login)");

    const noToken = await cli(["repository", "list"]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain("--username (or set REGISTRY_USERNAME)");
  });

  it("exits 3 when the endpoint cannot be reached", async () => {
    const port = await closedPort();
    const result = await cli(["scope-map", "list", "--endpoint", `http://127.0.0.1:${port}`]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(new RegExp(`^error: cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`, "m"));

    const repositories = await cli(["repository", "list", "--endpoint", `http://127.0.0.1:${port}`, "-u", "x", "-p", "y"]);
    expect(repositories.code).toBe(3);

    // The local stack without http://: taken as https://, which it does not speak; said plainly, not as an OpenSSL error.
    const noScheme = await cli(["scope-map", "list", "--endpoint", stack.registryHost]);
    expect(noScheme.code).toBe(3);
    expect(noScheme.stderr).toBe(`error: cannot reach https://${stack.registryHost}: it does not answer TLS (https): if it serves plain HTTP, use http://${stack.registryHost} (an endpoint without http:// or https:// is taken as https://)\n`);
  });

  it("imports a repository of the same registry, following the operation with progress on stderr", async () => {
    const result = await cli(["import", "--source", "hello-world:latest", "--image", "imported/hello-world:v1", "--image", "imported/hello-world:stable"]);
    expect(result.code, result.stderr).toBe(0);
    // stderr is not a terminal here: plain progress lines, no bar.
    expect(result.stderr).toMatch(/^importing hello-world:latest: /m);
    expect(result.stderr).not.toContain("\r");
    expect(result.stdout).toMatch(/^Status\s+Succeeded$/m);
    expect(result.stdout).toMatch(new RegExp(`^Digest\\s+${helloWorld.indexDigest}$`, "m"));

    const tags = await cliJson(["repository", "show-tags", "--name", "imported/hello-world"], asPusher());
    expect(tags).toEqual({ name: "imported/hello-world", tags: ["stable", "v1"] });

    // Again without --force: the target tag exists, refused at once.
    const exists = await cli(["import", "--source", "hello-world:latest", "--image", "imported/hello-world:v1"]);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/^error: TagExists \(HTTP 409\): .*imported\/hello-world:v1.*; run again with --force to replace it$/m);
    const forced = await cliJson(["import", "--source", "hello-world:latest", "--image", "imported/hello-world:v1", "--force"]);
    expect(forced).toMatchObject({ kind: "import", status: "Succeeded", digest: helloWorld.indexDigest, targetTags: ["imported/hello-world:v1"], mode: "Force", error: null });
  });

  it("exits 1 with the operation's error when an import fails", async () => {
    const result = await cli(["import", "--source", "nosuchrepo:v1", "--image", "imported/nothing:v1"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^error: SourceNotFound: import imp-\S+ failed: /m);
  });

  it("lists, shows tags of and deletes repositories over /v2/ with a token's credentials", async () => {
    const repositories = await cliJson(["repository", "list"], asPusher());
    expect(repositories.repositories).toEqual(expect.arrayContaining(["hello-world", "imported/hello-world"]));

    // `--password=VALUE`: a generated password may start with "-", which the CLI refuses as a separate value.
    const table = await cli(["repository", "list", "--username", pusher.username, `--password=${pusher.password}`]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^REPOSITORY\n-+\n/);
    expect(table.stdout).toMatch(/^hello-world$/m);

    // The client token sees only what its scope map lets it read.
    expect(await cliJson(["repository", "list"], { REGISTRY_USERNAME: "shopfloor", REGISTRY_PASSWORD: shopfloorPassword })).toEqual({ repositories: ["hello-world"] });
    const denied = await cli(["repository", "delete", "--image", "hello-world:latest"], { REGISTRY_USERNAME: "shopfloor", REGISTRY_PASSWORD: shopfloorPassword });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^error: DENIED \(HTTP 403\): /m);

    // show-manifests: the index with its platforms, and the size a pull of every platform fetches.
    const layoutSize = (digest: string): number => helloWorld.blobs.get(digest)!.length;
    const expectedSize =
      layoutSize(helloWorld.indexDigest) +
      helloWorld.platforms.reduce((sum, p) => sum + layoutSize(p.manifestDigest) + layoutSize(p.configDigest) + p.layerDigests.reduce((n, d) => n + layoutSize(d), 0), 0);
    const manifests = await cliJson(["repository", "show-manifests", "--repository", "hello-world"], asPusher());
    expect(manifests).toEqual({
      repository: "hello-world",
      manifests: [
        {
          digest: helloWorld.indexDigest,
          tags: ["latest"],
          mediaType: "application/vnd.oci.image.index.v1+json",
          platforms: helloWorld.platforms.map((p) => [p.platform.os, p.platform.architecture, ...(p.platform.variant ? [p.platform.variant] : [])].join("/")),
          imageSize: expectedSize,
        },
      ],
    });

    // push-sample: a one-file image for this platform, whose config show-manifests reads (through the blob redirect).
    const pushed = await cliJson(["push-sample", "--image", "sample/hello:v1"], asPusher());
    expect(pushed).toMatchObject({ image: "sample/hello:v1", digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    const sample = await cliJson(["repository", "show-manifests", "-n", "sample/hello"], asPusher());
    expect(sample.manifests).toEqual([{ digest: pushed.digest, tags: ["v1"], mediaType: "application/vnd.oci.image.manifest.v1+json", platforms: [`linux/${hostArchitecture()}`], imageSize: pushed.size }]);
    const both = await cli(["repository", "show-manifests", "-n", "myregistry", "--repository", "hello-world"], asPusher());
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("choose the registry with --registry/-r");

    const untag = await cli(["repository", "untag", "--image", "imported/hello-world:stable"], asPusher());
    expect(untag.code, untag.stderr).toBe(0);
    const deleted = await cliJson(["repository", "delete", "--image", "imported/hello-world:v1"], asPusher());
    expect(deleted).toEqual({ repository: "imported/hello-world", deleted: [helloWorld.indexDigest] });
    expect(await cliJson(["repository", "show-tags", "--name", "imported/hello-world"], asPusher())).toEqual({ name: "imported/hello-world", tags: [] });

    const gone = await cli(["repository", "delete", "--image", "imported/hello-world:v1"], asPusher());
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/MANIFEST_UNKNOWN/);
  });
});
