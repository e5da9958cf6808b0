/**
 * The admin CLI end to end in process, against a scripted fetch: what each command sends,
 * how answers become output, and the exit codes (0 ok, 1 refused, 2 usage, 3 unreachable).
 */
import { describe, expect, it } from "vitest";
import { run } from "../../scripts/admin-cli/cli.js";
import type { CliIO } from "../../scripts/admin-cli/context.js";

interface Sent {
  method: string;
  url: string;
  authorization: string | null;
  body: unknown;
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | Error;

/** A fetch that records requests and answers from `answers`, in order. */
function scripted(answers: Answer[]) {
  const sent: Sent[] = [];
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const headers = new Headers(init.headers);
    sent.push({ method: init.method ?? "GET", url, authorization: headers.get("authorization"), body: init.body ? JSON.parse(String(init.body)) : undefined });
    const answer = answers.shift();
    if (!answer) throw new Error(`unexpected request ${init.method} ${url}`);
    if (answer instanceof Error) throw answer;
    const text = answer.body === undefined ? null : typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body);
    return new Response(text, { status: answer.status, headers: { "Content-Type": "application/json", ...answer.headers } });
  };
  return { sent, fetch };
}

async function cli(argv: string[], answers: Answer[] = [], options: { env?: Record<string, string>; isTTY?: boolean } = {}) {
  const { sent, fetch } = scripted(answers);
  let stdout = "";
  let stderr = "";
  const io: CliIO = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: options.isTTY ?? false, columns: 100 },
    env: options.env ?? { REGISTRY_ENDPOINT: "http://registry.test:5000", REGISTRY_ADMIN_KEY: "the-key" },
    fetch,
    sleep: async () => {},
    now: () => new Date("2030-01-01T00:00:00.000Z"),
  };
  const code = await run(argv, io);
  return { code, stdout, stderr, sent };
}

const scopeMap = { name: "hello-pull", type: "UserDefined", description: "", actions: ["repositories/hello-world/content/read"], creationDate: "2030-01-01T00:00:00Z", updatedAt: "2030-01-01T00:00:00Z" };

describe("admin CLI commands", () => {
  it("starts a new change-log epoch with change-log new-epoch", async () => {
    const result = await cli(["change-log", "new-epoch"], [{ status: 200, body: { epoch: "n3wEp0ch" } }]);
    expect(result.code).toBe(0);
    expect(result.sent).toEqual([{ method: "POST", url: "http://registry.test:5000/management/changeLog/epoch", authorization: "Bearer the-key", body: undefined }]);
    expect(result.stdout).toContain("n3wEp0ch");
    expect(result.stdout).toMatch(/full resync/);
  });

  it("sends the admin key as a Bearer credential and the body the API takes", async () => {
    const result = await cli(["scope-map", "create", "--name", "hello-pull", "--repository", "hello-world", "content/read", "metadata/read", "--gateway", "factory1", "config/read"], [{ status: 201, body: scopeMap }]);
    expect(result.code).toBe(0);
    expect(result.sent).toEqual([
      {
        method: "POST",
        url: "http://registry.test:5000/management/scopeMaps",
        authorization: "Bearer the-key",
        body: { name: "hello-pull", actions: ["repositories/hello-world/content/read", "repositories/hello-world/metadata/read", "gateway/factory1/config/read"] },
      },
    ]);
    expect(result.stdout).toMatch(/^Name\s+hello-pull$/m);
  });

  it("prints the API's JSON with --output json, flags winning over the environment", async () => {
    const list = { value: [scopeMap] };
    const result = await cli(["scope-map", "list", "-o", "json", "--endpoint", "https://other.test/", "--admin-key", "flag-key"], [{ status: 200, body: list }]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(list);
    expect(result.sent[0]).toMatchObject({ url: "https://other.test/management/scopeMaps", authorization: "Bearer flag-key" });
  });

  it("maps update flags to the PATCH body, reading notifications first to add and remove", async () => {
    const registry = { name: "factory1", notifications: ["a:latest:push", "b:latest:push"] };
    const result = await cli(
      ["connected-registry", "update", "--name", "factory1", "--sync-window", "", "--add-client-tokens", "t1", "t2", "--add-notifications", "c:*:delete", "--remove-notifications", "a:latest:push", "-o", "json"],
      [
        { status: 200, body: registry },
        { status: 200, body: { ...registry, notifications: ["b:latest:push", "c:*:delete"] } },
      ],
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.sent.map((s) => `${s.method} ${new URL(s.url).pathname}`)).toEqual(["GET /management/connectedRegistries/factory1", "PATCH /management/connectedRegistries/factory1"]);
    expect(result.sent[1]!.body).toEqual({ syncWindow: null, addClientTokens: ["t1", "t2"], notifications: ["b:latest:push", "c:*:delete"] });
  });

  it("generates a password with an expiry N days from now", async () => {
    const answer = { username: "shopfloor", passwords: [{ name: "password2", value: "secret", expiry: "2030-01-31T00:00:00.000Z" }] };
    const result = await cli(["token", "credential", "generate", "--name", "shopfloor", "--password2", "--expiration-in-days", "30"], [{ status: 200, body: answer }]);
    expect(result.code).toBe(0);
    expect(result.sent[0]!.body).toEqual({ name: "password2", expiry: "2030-01-31T00:00:00.000Z" });
    expect(result.stdout).toMatch(/^shopfloor\s+password2\s+secret\s+2030-01-31T00:00:00.000Z$/m);
  });

  it("sends get-settings its protocol and password number", async () => {
    const answer = {
      connectionString: "ConnectedRegistryName=factory1;...",
      ACR_REGISTRY_CONNECTION_STRING: "ConnectedRegistryName=factory1;...",
      ACR_REGISTRY_LOGIN_SERVER: null,
      SYNC_TOKEN_USER: "factory1-sync-token",
      SYNC_TOKEN_PASSWORD: "secret",
    };
    const result = await cli(["connected-registry", "get-settings", "-n", "factory1", "--parent-protocol", "HTTP", "--generate-password", "2"], [{ status: 200, body: answer }]);
    expect(result.code).toBe(0);
    expect(result.sent[0]!.body).toEqual({ parentProtocol: "http", generatePassword: 2 });
    expect(result.stdout).toBe(
      [
        "Connection string  ConnectedRegistryName=factory1;...",
        "Login server       (not reported yet: start the agent with --login-server HOST:PORT)",
        "Sync token         factory1-sync-token",
        "",
      ].join("\n"),
    );
    // -o json is the API's answer, ACR's keys included.
    const json = await cli(["connected-registry", "get-settings", "-n", "factory1", "-o", "json"], [{ status: 200, body: { ...answer, ACR_REGISTRY_LOGIN_SERVER: "edge:8080" } }]);
    expect(JSON.parse(json.stdout)).toEqual({ ...answer, ACR_REGISTRY_LOGIN_SERVER: "edge:8080" });
  });

  it("deletes with cleanup as a query, printing nothing", async () => {
    const result = await cli(["connected-registry", "delete", "--name", "factory1", "--cleanup", "--yes"], [{ status: 204 }]);
    expect(result).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(result.sent[0]).toMatchObject({ method: "DELETE", url: "http://registry.test:5000/management/connectedRegistries/factory1?cleanup=true" });
  });
});

describe("admin CLI exit codes", () => {
  it("exits 1 with the API's code and message", async () => {
    const result = await cli(["scope-map", "show", "--name", "nosuch"], [{ status: 404, body: { error: { code: "NotFound", message: 'scope map "nosuch" does not exist' } } }]);
    expect(result).toMatchObject({ code: 1, stdout: "", stderr: 'error: NotFound (HTTP 404): scope map "nosuch" does not exist\n' });
  });

  it("exits 1 for an answer that is not the API's error shape", async () => {
    const result = await cli(["scope-map", "list"], [{ status: 502, body: "<html>Bad Gateway</html>" }]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("error: HTTP502 (HTTP 502): <html>Bad Gateway</html>\n");
  });

  it("exits 2 for usage errors, before any request", async () => {
    const missing = await cli(["token", "create", "--name", "abcde"]);
    expect(missing).toMatchObject({ code: 2, sent: [] });
    expect(missing.stderr).toBe("error: give either --scope-map or --repository/--gateway (not both)\nsee: registry-admin token create --help\n");
    const noEndpoint = await cli(["token", "list"], [], { env: {} });
    expect(noEndpoint.code).toBe(2);
    expect(noEndpoint.stderr).toContain("missing required flag --endpoint (or set REGISTRY_ENDPOINT, or save it once with registry-admin login --endpoint URL)");
    const nothing = await cli([]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain("usage: registry-admin <scope-map|token|connected-registry|import|repository|change-log|webhook|login|push-sample>");
    const help = await cli(["token", "--help"]);
    expect(help).toMatchObject({ code: 0, stderr: "" });
    expect(help.stdout).toContain("token credential generate");
  });

  it("exits 3 when the endpoint does not answer", async () => {
    const refused = new TypeError("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:443"), { code: "ECONNREFUSED" }) });
    const result = await cli(["token", "list"], [refused]);
    expect(result).toMatchObject({ code: 3, stderr: "error: cannot reach http://registry.test:5000: connect ECONNREFUSED 10.0.0.1:443\n" });
    const timeout = Object.assign(new Error("timed out"), { name: "TimeoutError" });
    expect((await cli(["token", "list"], [timeout])).stderr).toBe("error: cannot reach http://registry.test:5000: no answer within 100 s\n");
  });
});

describe("admin CLI import", () => {
  const running = (progress: object) => ({ id: "imp-1", status: "Running", source: "hello-world:latest", progress, error: null });

  it("polls the operation until it succeeds, with progress lines on a pipe", async () => {
    const done = { ...running({ bytesCopied: 100, bytesTotal: 100, blobsCopied: 2, blobsTotal: 2, blobsSkipped: 0 }), status: "Succeeded", digest: "sha256:abc", targetTags: ["copy:v1"] };
    const result = await cli(
      ["import", "--source", "hello-world:latest", "--image", "copy:v1", "--repository", "archive", "-u", "me", "-p", "pw", "--force"],
      [
        { status: 202, body: running({ bytesCopied: 0, bytesTotal: 0, blobsCopied: 0, blobsTotal: 0 }), headers: { Location: "/management/operations/imp-1" } },
        { status: 200, body: running({ bytesCopied: 50, bytesTotal: 100, blobsCopied: 1, blobsTotal: 2, blobsSkipped: 0 }) },
        { status: 200, body: done },
      ],
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.sent[0]!.body).toEqual({ source: "hello-world:latest", targetTags: ["copy:v1"], untaggedTargetRepositories: ["archive"], username: "me", password: "pw", mode: "Force" });
    expect(result.sent.slice(1).map((s) => `${s.method} ${new URL(s.url).pathname}`)).toEqual(["GET /management/operations/imp-1", "GET /management/operations/imp-1"]);
    expect(result.stderr).toBe(
      [
        "importing hello-world:latest: resolving the source",
        "importing hello-world:latest: 50% 50 B / 100 B, 1/2 blobs",
        "importing hello-world:latest: 100% 100 B / 100 B, 2/2 blobs",
        "",
      ].join("\n"),
    );
    expect(result.stdout).toMatch(/^Status\s+Succeeded$/m);
    expect(result.stdout).toMatch(/^Digest\s+sha256:abc$/m);
  });

  it("draws a bar on a terminal", async () => {
    const result = await cli(
      ["import", "--source", "a:b"],
      [
        { status: 202, body: running({ bytesCopied: 10, bytesTotal: 100, blobsCopied: 0, blobsTotal: 1 }) },
        { status: 200, body: { ...running({ bytesCopied: 100, bytesTotal: 100, blobsCopied: 1, blobsTotal: 1 }), status: "Succeeded" } },
      ],
      { isTTY: true },
    );
    expect(result.code).toBe(0);
    expect(result.sent[0]!.body).toEqual({ source: "a:b", mode: "NoForce" });
    expect(result.stderr).toContain("\r\x1b[2Kimporting a:b [===>");
    expect(result.stderr.endsWith("] 100% 100 B / 100 B, 1/1 blobs\n")).toBe(true);
  });

  it("exits 1 with the operation's error when it fails, the operation on stdout only for JSON", async () => {
    const failed = { ...running({}), status: "Failed", error: { code: "SourceNotFound", message: "hello-world:nope is not in this registry" } };
    const table = await cli(["import", "--source", "hello-world:nope"], [{ status: 202, body: running({}) }, { status: 200, body: failed }]);
    expect(table).toMatchObject({ code: 1, stdout: "" });
    expect(table.stderr.split("\n").slice(-2)).toEqual(["error: SourceNotFound: import imp-1 failed: hello-world:nope is not in this registry", ""]);
    const json = await cli(["import", "--source", "hello-world:nope", "-o", "json"], [{ status: 202, body: running({}) }, { status: 200, body: failed }]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual(failed);
  });

  it("returns at once with --no-wait", async () => {
    const result = await cli(["import", "--source", "a:b", "--no-wait", "-o", "json"], [{ status: 202, body: running({}) }]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(result.stdout)).toMatchObject({ id: "imp-1", status: "Running" });
  });
});

describe("admin CLI repository verbs over /v2/", () => {
  const token = { REGISTRY_ENDPOINT: "http://registry.test:5000", REGISTRY_USERNAME: "reader", REGISTRY_PASSWORD: "pw" };

  it("follows catalog pages with Basic credentials", async () => {
    const result = await cli(
      ["repository", "list", "-o", "json"],
      [
        { status: 200, body: { repositories: ["a", "b"] }, headers: { Link: '</v2/_catalog?n=1000&last=b>; rel="next"' } },
        { status: 200, body: { repositories: ["c"] } },
      ],
      { env: token },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ repositories: ["a", "b", "c"] });
    expect(result.sent.map((s) => s.url)).toEqual(["http://registry.test:5000/v2/_catalog?n=1000", "http://registry.test:5000/v2/_catalog?n=1000&last=b"]);
    expect(result.sent[0]!.authorization).toBe(`Basic ${Buffer.from("reader:pw").toString("base64")}`);
  });

  it("deletes an image by resolving its tag to the digest", async () => {
    const result = await cli(
      ["repository", "delete", "--image", "app/web:v1"],
      [{ status: 200, headers: { "Docker-Content-Digest": "sha256:abc" } }, { status: 202 }],
      { env: token },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.sent.map((s) => `${s.method} ${new URL(s.url).pathname}`)).toEqual(["HEAD /v2/app/web/manifests/v1", "DELETE /v2/app/web/manifests/sha256:abc"]);
    expect(result.stdout).toBe("deleted app/web@sha256:abc\n");
  });

  it("deletes every tagged manifest of a repository once", async () => {
    const result = await cli(
      ["repository", "delete", "--name", "app/web", "-o", "json"],
      [
        { status: 200, body: { name: "app/web", tags: ["v1", "latest", "v2"] } },
        { status: 200, headers: { "Docker-Content-Digest": "sha256:one" } },
        { status: 200, headers: { "Docker-Content-Digest": "sha256:one" } },
        { status: 200, headers: { "Docker-Content-Digest": "sha256:two" } },
        { status: 202 },
        { status: 202 },
      ],
      { env: token },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ repository: "app/web", deleted: ["sha256:one", "sha256:two"] });
  });

  it("exits 1 with the registry's error code", async () => {
    const result = await cli(
      ["repository", "show-tags", "--name", "secret"],
      [{ status: 403, body: { errors: [{ code: "DENIED", message: 'token "reader" may not repository:secret:pull' }] } }],
      { env: token },
    );
    expect(result).toMatchObject({ code: 1, stderr: `error: DENIED (HTTP 403): token "reader" may not repository:secret:pull\n` });
  });
});
