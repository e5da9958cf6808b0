import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient, errorCode, sha256 } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

/** Sends a path exactly as written (fetch would normalise "..", which is what an attacker avoids). */
function rawRequest(baseUrl: string, method: string, path: string): Promise<{ status: number; body: string; location?: string }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, ...(res.headers.location ? { location: res.headers.location } : {}) }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("bad input", () => {
  let stack: TestStack;
  let registry: RegistryClient;

  beforeAll(async () => {
    stack = await startTestStack();
    registry = new RegistryClient(stack.registryUrl);
  });
  afterAll(async () => stack?.destroy());

  async function catalog(): Promise<string[]> {
    return ((await (await registry.fetch("/v2/_catalog")).json()) as { repositories: string[] }).repositories;
  }

  it.each(["UPPER/case", "trailing-/x", "a//b", "a/.hidden", "-lead", "a/__/b", "x".repeat(256)])("refuses the repository name %s with NAME_INVALID", async (name) => {
    const response = await registry.fetch(`/v2/${name}/blobs/uploads/`, { method: "POST" });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("NAME_INVALID");
    expect(await catalog()).toEqual([]);
  });

  it.each(["/v2/a/../../etc/blobs/uploads/", "/v2/%2e%2e/%2e%2e/etc/blobs/uploads/", "/v2/..%2f..%2fsecret/blobs/uploads/", "/v2/a%00b/blobs/uploads/"])(
    "refuses the traversal attempt %s and creates nothing",
    async (path) => {
      const response = await rawRequest(stack.registryUrl, "POST", path);
      expect([400, 404]).toContain(response.status);
      if (response.status === 400) expect(JSON.parse(response.body).errors[0].code).toBe("NAME_INVALID");
      expect(await catalog()).toEqual([]);
    },
  );

  it("resolves encoded dot segments as URLs do, so they never leave the repository namespace", async () => {
    // WHATWG URL parsing (Node here, the Functions host in Azure) turns %2e%2e into ".."
    // and resolves it: "a/%2e%2e/b" is repository "b", as for any HTTP server.
    const response = await rawRequest(stack.registryUrl, "POST", "/v2/a/%2e%2e/b/blobs/uploads/");
    expect(response.status).toBe(202);
    expect(response.location).toMatch(/^\/v2\/b\/blobs\/uploads\/[0-9a-f-]{36}$/);
  });

  it("refuses an invalid tag", async () => {
    const response = await registry.fetch("/v2/bad/tag/manifests/-dash", { method: "PUT", headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" }, body: "{}" });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("MANIFEST_INVALID");
  });

  it("refuses a malformed digest with DIGEST_INVALID", async () => {
    for (const digest of ["sha256:short", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:" + "A".repeat(64)]) {
      const response = await registry.fetch(`/v2/bad/digest/blobs/${digest}`);
      expect(response.status).toBe(400);
      expect(await errorCode(response)).toBe("DIGEST_INVALID");
    }
    const upload = await registry.fetch("/v2/bad/digest/blobs/uploads/?digest=sha256:nothex", { method: "POST", body: "x" });
    expect(await errorCode(upload)).toBe("DIGEST_INVALID");
  });

  it("answers BLOB_UNKNOWN for a blob that was never pushed", async () => {
    const response = await registry.fetch(`/v2/bad/unknown/blobs/${sha256(randomBytes(8))}`);
    expect(response.status).toBe(404);
    expect(await errorCode(response)).toBe("BLOB_UNKNOWN");
  });

  it("answers BLOB_UPLOAD_UNKNOWN for a made-up upload id", async () => {
    for (const id of ["00000000-0000-0000-0000-000000000000", "..%2f..%2fblobs", "not-a-uuid"]) {
      const response = await registry.fetch(`/v2/bad/upload/blobs/uploads/${id}`, { method: "PATCH", body: "x" });
      expect(response.status).toBe(404);
      expect(await errorCode(response)).toBe("BLOB_UPLOAD_UNKNOWN");
    }
  });

  it("answers UNSUPPORTED with Allow for a method the endpoint does not take", async () => {
    const response = await registry.fetch("/v2/_catalog", { method: "DELETE" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET");
    expect(await errorCode(response)).toBe("UNSUPPORTED");
  });

  it("answers 404 with an error body for a path that is no endpoint", async () => {
    const response = await registry.fetch("/v2/some/repo/nonsense/path");
    expect(response.status).toBe(404);
    expect(response.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
  });
});
