/**
 * The admin CLI with the habits of `az acr` users (issue 16), in process against a scripted
 * fetch: token create's passwords, --query/-o tsv, login profiles and --registry/-r, import's
 * --name/--registry/--force message, push-sample's requests, and flags that must not be
 * confused with others.
 */
import { chmod, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../scripts/admin-cli/cli.js";
import type { CliIO } from "../../scripts/admin-cli/context.js";
import { buildSampleImage } from "../../scripts/admin-cli/push-sample.js";
import { selectQuery, toTsv } from "../../scripts/admin-cli/query.js";

interface Sent {
  method: string;
  url: string;
  authorization: string | null;
  body: unknown;
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

async function cli(argv: string[], answers: Answer[] = [], options: { env?: Record<string, string>; stdin?: string } = {}) {
  const sent: Sent[] = [];
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const headers = new Headers(init.headers);
    const raw = init.body;
    const body = raw === undefined ? undefined : Buffer.isBuffer(raw) ? raw : JSON.parse(String(raw));
    sent.push({ method: init.method ?? "GET", url, authorization: headers.get("authorization"), body });
    const answer = answers.shift();
    if (!answer) throw new Error(`unexpected request ${init.method} ${url}`);
    const text = answer.body === undefined ? null : JSON.stringify(answer.body);
    return new Response(text, { status: answer.status, headers: { "Content-Type": "application/json", ...answer.headers } });
  };
  let stdout = "";
  let stderr = "";
  const io: CliIO = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: false, columns: 100 },
    ...(options.stdin !== undefined ? { stdin: Readable.from([Buffer.from(options.stdin)]) } : {}),
    env: options.env ?? { REGISTRY_ENDPOINT: "http://registry.test:5000", REGISTRY_ADMIN_KEY: "the-key" },
    fetch,
    sleep: async () => {},
    now: () => new Date("2030-01-01T00:00:00.000Z"),
  };
  const code = await run(argv, io);
  return { code, stdout, stderr, sent };
}

const token = { name: "pusher", scopeMap: "pusher-scope-map", status: "enabled", credentials: { passwords: [] } };
const generated = {
  username: "pusher",
  passwords: [
    { name: "password1", value: "first-secret", creationTime: "2030-01-01T00:00:00Z" },
    { name: "password2", value: "second-secret", creationTime: "2030-01-01T00:00:00Z" },
  ],
};

describe("token create, as az acr token create", () => {
  it("returns both passwords, shown once, in az's shape", async () => {
    const result = await cli(["token", "create", "--name", "pusher", "--repository", "hello-world", "content/write", "-o", "json"], [{ status: 201, body: token }, { status: 200, body: generated }]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.sent.map((s) => `${s.method} ${s.url}`)).toEqual(["POST http://registry.test:5000/management/tokens", "POST http://registry.test:5000/management/tokens/pusher/credentials/generate"]);
    expect(result.sent[1]!.body).toEqual({});
    expect(JSON.parse(result.stdout).credentials).toEqual({ username: "pusher", passwords: generated.passwords });
    const table = await cli(["token", "create", "--name", "pusher", "--scope-map", "hello-pull"], [{ status: 201, body: token }, { status: 200, body: generated }]);
    expect(table.stdout).toMatch(/^pusher\s+password1\s+first-secret\s+never$/m);
    expect(table.stdout).toContain("the passwords are shown only now");
  });

  it("gives one value to a shell with --query and -o tsv", async () => {
    const result = await cli(["token", "create", "-n", "pusher", "--scope-map", "hello-pull", "--query", "credentials.passwords[0].value", "-o", "tsv"], [{ status: 201, body: token }, { status: 200, body: generated }]);
    expect(result).toMatchObject({ code: 0, stdout: "first-secret\n" });
  });

  it("makes no password with --no-passwords, and sends the expiry of --expiration-in-days", async () => {
    const none = await cli(["token", "create", "-n", "pusher", "--scope-map", "hello-pull", "--no-passwords", "-o", "json"], [{ status: 201, body: token }]);
    expect(none.code).toBe(0);
    expect(none.sent).toHaveLength(1);
    const expiring = await cli(["token", "create", "-n", "pusher", "--scope-map", "hello-pull", "--expiration-in-days", "30"], [{ status: 201, body: token }, { status: 200, body: generated }]);
    expect(expiring.sent[1]!.body).toEqual({ expiry: "2030-01-31T00:00:00.000Z" });
    const both = await cli(["token", "create", "-n", "pusher", "--scope-map", "hello-pull", "--no-passwords", "--expiration", "2031-01-01T00:00:00Z"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("leave out --no-passwords");
  });

  it("makes <name>-scope-map with repository and gateway actions for --gateway", async () => {
    const result = await cli(
      ["token", "create", "-n", "edgeops", "--repository", "hello-world", "content/read", "--gateway", "factory1", "config/read", "message/read", "--no-passwords"],
      [{ status: 201, body: {} }, { status: 201, body: { ...token, name: "edgeops" } }],
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.sent[0]).toMatchObject({
      url: "http://registry.test:5000/management/scopeMaps",
      body: { name: "edgeops-scope-map", actions: ["repositories/hello-world/content/read", "gateway/factory1/config/read", "gateway/factory1/message/read"] },
    });
    expect(result.sent[1]!.body).toEqual({ name: "edgeops", scopeMap: "edgeops-scope-map" });
  });
});

describe("--query and -o tsv", () => {
  it("selects names and indexes, null where the path leads nowhere", () => {
    const value = { a: { b: [{ c: 1 }, { c: 2 }] } };
    expect(selectQuery(value, "a.b[1].c", "x")).toBe(2);
    expect(selectQuery(value, "a.b[-1].c", "x")).toBe(2);
    expect(selectQuery(value, "a.nope.c", "x")).toBeNull();
    expect(() => selectQuery(value, "a.b[?c==`1`]", "x")).toThrow(/not supported here: use names and indexes/);
    expect(toTsv(["x", "y"])).toBe("x\ny\n");
    expect(toTsv({ name: "n", count: 2 })).toBe("n\t2\n");
  });
});

describe("login profiles and --registry/-r", () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), "admin-cli-habits-"));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it("checks the key, saves it 0600 without echoing it, and later commands need no endpoint or key", async () => {
    const login = await cli(["login", "--endpoint", "http://127.0.0.1:5000"], [{ status: 200, body: { value: [] } }], { env: { HOME: home }, stdin: "pasted-key\n" });
    expect(login.code, login.stderr).toBe(0);
    expect(login.sent[0]).toMatchObject({ url: "http://127.0.0.1:5000/management/scopeMaps", authorization: "Bearer pasted-key" });
    expect(login.stdout + login.stderr).not.toContain("pasted-key");
    expect(login.stderr).toContain('logged in to http://127.0.0.1:5000 as "127.0.0.1:5000"');
    const file = join(home, ".config/registry-admin/profiles.json");
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const later = await cli(["token", "list", "-o", "json"], [{ status: 200, body: { value: [] } }], { env: { HOME: home } });
    expect(later.code, later.stderr).toBe(0);
    expect(later.sent[0]).toMatchObject({ url: "http://127.0.0.1:5000/management/tokens", authorization: "Bearer pasted-key" });

    await cli(["login", "--endpoint", "https://prod.example.com", "--name", "prod"], [{ status: 200, body: { value: [] } }], { env: { HOME: home }, stdin: "prod-key" });
    const named = await cli(["token", "list", "-r", "127.0.0.1:5000", "-o", "json"], [{ status: 200, body: { value: [] } }], { env: { HOME: home } });
    expect(named.sent[0]).toMatchObject({ url: "http://127.0.0.1:5000/management/tokens", authorization: "Bearer pasted-key" });
    const fallback = await cli(["token", "list", "-o", "json"], [{ status: 200, body: { value: [] } }], { env: { HOME: home } });
    expect(fallback.sent[0]).toMatchObject({ url: "https://prod.example.com/management/tokens", authorization: "Bearer prod-key" });
    const unknown = await cli(["token", "list", "--registry", "staging"], [], { env: { HOME: home } });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no saved registry "staging" (saved: 127.0.0.1:5000, prod): run registry-admin login --endpoint URL --name staging');
  });

  it("saves nothing when the key is refused, and refuses a profiles file others may read", async () => {
    const other = await mkdtemp(join(tmpdir(), "admin-cli-habits-"));
    try {
      const refused = await cli(["login", "--endpoint", "http://127.0.0.1:5000"], [{ status: 401, body: { error: { code: "Unauthorized", message: "the admin key is wrong" } } }], { env: { HOME: other }, stdin: "wrong" });
      expect(refused.code).toBe(1);
      await expect(stat(join(other, ".config/registry-admin/profiles.json"))).rejects.toThrow(/ENOENT/);
      const file = join(home, ".config/registry-admin/profiles.json");
      await chmod(file, 0o644);
      const open = await cli(["token", "list"], [], { env: { HOME: home } });
      expect(open.code).toBe(2);
      expect(open.stderr).toContain(`may be read by other users: chmod 600 ${file}`);
      await chmod(file, 0o600);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it("takes import's --name as the target registry and --registry as the source's", async () => {
    const answer = { id: "op1", status: "Succeeded", source: "x" };
    const result = await cli(["import", "-n", "127.0.0.1:5000", "--registry", "prod", "--source", "base/alpine:3.20", "-o", "json"], [{ status: 202, body: answer }], { env: { HOME: home } });
    expect(result.code, result.stderr).toBe(0);
    expect(result.sent[0]).toMatchObject({ url: "http://127.0.0.1:5000/management/import", authorization: "Bearer pasted-key", body: { source: "prod.example.com/base/alpine:3.20" } });
    const byHost = await cli(["import", "--registry", "mirror.example.com", "--source", "alpine:3.20", "-o", "json"], [{ status: 202, body: answer }]);
    expect(byHost.sent[0]!.body).toMatchObject({ source: "mirror.example.com/alpine:3.20" });
  });
});

describe("messages that point the right way", () => {
  it("names --force when a target tag exists", async () => {
    const tagExists = { error: { code: "TagExists", message: "target tag hello-world:latest already exists; import with mode Force to replace it" } };
    const result = await cli(["import", "--source", "other.example.com/hello-world:latest"], [{ status: 409, body: tagExists }]);
    expect(result).toMatchObject({ code: 1, stderr: "error: TagExists (HTTP 409): target tag hello-world:latest already exists; run again with --force to replace it\n" });
  });

  it("shows why an import is being tried again, once per try", async () => {
    const running = { id: "op1", status: "Running", source: "unreachable.example.com/app:v1", progress: {} };
    const retried = { ...running, lastRetry: { attempt: 1, message: "cannot reach unreachable.example.com: ECONNREFUSED", at: "2030-01-01T00:00:00Z" } };
    const failed = { ...running, status: "Failed", error: { code: "SourceUnreachable", message: "the import was interrupted 5 times; start it again" } };
    const result = await cli(["import", "--source", "unreachable.example.com/app:v1"], [{ status: 202, body: running }, { status: 200, body: retried }, { status: 200, body: retried }, { status: 200, body: failed }]);
    expect(result.code).toBe(1);
    expect(result.stderr.match(/try 1 stopped, trying again: cannot reach unreachable\.example\.com: ECONNREFUSED/g)).toHaveLength(1);
  });

  it("never suggests a flag with another meaning for -r or an az-only flag", async () => {
    const short = await cli(["token", "show", "--name", "abcde", "-x"]);
    expect(short.stderr).toBe('error: unknown flag -x for "token show"\nsee: registry-admin token show --help\n');
    const group = await cli(["token", "list", "--resource-group", "rg"]);
    expect(group.stderr).toContain("there are no resource groups here: the registry is --endpoint or a saved --registry");
    const registry = await cli(["token", "list", "-r", "nosuch", "-o", "json"], [], { env: { HOME: "/nonexistent-home", REGISTRY_ENDPOINT: "http://registry.test:5000", REGISTRY_ADMIN_KEY: "k" } });
    expect(registry.stderr).toContain('no saved registry "nosuch"');
  });

  it("refuses an endpoint that is not http or https, and takes a bare host as https", async () => {
    const ftp = await cli(["token", "list", "--endpoint", "ftp://registry.test"]);
    expect(ftp).toMatchObject({ code: 2 });
    expect(ftp.stderr).toContain("use http:// or https://");
    const bare = await cli(["token", "list", "--endpoint", "registry.test", "-o", "json"], [{ status: 200, body: { value: [] } }]);
    expect(bare.sent[0]!.url).toBe("https://registry.test/management/tokens");
  });
});

describe("connected-registry list and permissions show, as az", () => {
  const registry = (name: string, parent: string | null) => ({ name, parent, mode: "ReadOnly", repositories: [], activation: { status: "Inactive" }, connectionState: "Offline", syncToken: `${name}-sync-token` });
  const all = [registry("cloudchild", null), registry("edge1", "cloudchild"), registry("edge2", "edge1"), registry("other", null)];

  it("lists every descendant for --parent, direct children with --no-children", async () => {
    const names = (stdout: string) => (JSON.parse(stdout).value as Array<{ name: string }>).map((r) => r.name);
    const descendants = await cli(["connected-registry", "list", "--parent", "cloudchild", "-o", "json"], [{ status: 200, body: { value: all } }, { status: 200, body: { value: all } }]);
    expect(names(descendants.stdout)).toEqual(["edge1", "edge2"]);
    const children = await cli(["connected-registry", "list", "-p", "cloudchild", "--no-children", "-o", "json"], [{ status: 200, body: { value: all } }, { status: 200, body: { value: all } }]);
    expect(names(children.stdout)).toEqual(["edge1"]);
    const top = await cli(["connected-registry", "list", "--no-children", "-m", "readonly", "-o", "json"], [{ status: 200, body: { value: all } }, { status: 200, body: { value: all } }]);
    expect(top.sent[1]!.url).toBe("http://registry.test:5000/management/connectedRegistries?mode=ReadOnly");
    expect(names(top.stdout)).toEqual(["cloudchild", "other"]);
    const unknown = await cli(["connected-registry", "list", "--parent", "nosuch"], [{ status: 200, body: { value: all } }]);
    expect(unknown).toMatchObject({ code: 1, stderr: 'error: NotFound (HTTP 404): connected registry "nosuch" does not exist\n' });
  });

  it("shows the sync token's scope map for permissions show", async () => {
    const scopeMap = { name: "edge1-sync-scope-map", type: "UserDefined", description: "", actions: ["repositories/hello-world/content/read", "gateway/edge1/config/read"] };
    const result = await cli(
      ["connected-registry", "permissions", "show", "--name", "edge1"],
      [{ status: 200, body: all[1] }, { status: 200, body: { ...token, name: "edge1-sync-token", scopeMap: "edge1-sync-scope-map" } }, { status: 200, body: scopeMap }],
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.sent.map((s) => s.url.replace("http://registry.test:5000/management/", ""))).toEqual(["connectedRegistries/edge1", "tokens/edge1-sync-token", "scopeMaps/edge1-sync-scope-map"]);
    expect(result.stdout).toMatch(/^Actions\s+repositories\/hello-world\/content\/read\n\s+gateway\/edge1\/config\/read$/m);
  });
});

describe("push-sample", () => {
  it("builds the same small image every time and pushes its blobs, then the manifest", async () => {
    const first = await buildSampleImage("hi", "amd64");
    expect((await buildSampleImage("hi", "amd64")).digest).toBe(first.digest);
    const config = JSON.parse(first.config.toString());
    expect(config).toMatchObject({ architecture: "amd64", os: "linux", rootfs: { type: "layers" } });
    const env = { REGISTRY_ENDPOINT: "http://registry.test:5000", REGISTRY_USERNAME: "pusher", REGISTRY_PASSWORD: "pw" };
    const opened = { status: 202, headers: { Location: "/v2/hello-world/blobs/uploads/u1" } };
    const result = await cli(
      ["push-sample", "--image", "hello-world:latest", "--text", "hi", "-o", "json"],
      [{ status: 404 }, opened, { status: 201 }, { status: 404 }, opened, { status: 201 }, { status: 201 }],
      { env },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.sent.map((s) => `${s.method} ${s.url.replace(/sha256:[0-9a-f]{64}/, "DIGEST")}`)).toEqual([
      "HEAD http://registry.test:5000/v2/hello-world/blobs/DIGEST",
      "POST http://registry.test:5000/v2/hello-world/blobs/uploads/",
      "PUT http://registry.test:5000/v2/hello-world/blobs/uploads/u1?digest=DIGEST",
      "HEAD http://registry.test:5000/v2/hello-world/blobs/DIGEST",
      "POST http://registry.test:5000/v2/hello-world/blobs/uploads/",
      "PUT http://registry.test:5000/v2/hello-world/blobs/uploads/u1?digest=DIGEST",
      "PUT http://registry.test:5000/v2/hello-world/manifests/latest",
    ]);
    expect(result.sent[0]!.authorization).toBe(`Basic ${Buffer.from("pusher:pw").toString("base64")}`);
    expect(JSON.parse(result.stdout)).toMatchObject({ image: "hello-world:latest", digest: expect.stringMatching(/^sha256:/) });
    const bad = await cli(["push-sample", "--image", "Hello:latest"], [], { env });
    expect(bad.stderr).toContain("--image must be REPOSITORY:TAG in lower case");
  });
});

