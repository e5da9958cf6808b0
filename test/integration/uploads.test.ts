import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient, errorCode, sha256 } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

describe("blob uploads", () => {
  let stack: TestStack;
  let registry: RegistryClient;

  beforeAll(async () => {
    stack = await startTestStack();
    registry = new RegistryClient(stack.registryUrl);
  });
  afterAll(async () => stack?.destroy());

  async function startUpload(repository: string): Promise<string> {
    const response = await registry.fetch(`/v2/${repository}/blobs/uploads/`, { method: "POST" });
    expect(response.status).toBe(202);
    expect(response.headers.get("docker-upload-uuid")).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get("range")).toBe("0-0");
    return response.headers.get("location")!;
  }

  it("takes a monolithic POST with ?digest= and serves the bytes back", async () => {
    const bytes = randomBytes(5000);
    const digest = await registry.pushBlob("uploads/monolithic", bytes);
    const head = await registry.fetch(`/v2/uploads/monolithic/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("5000");
    expect(head.headers.get("docker-content-digest")).toBe(digest);
    const get = await registry.getBlob("uploads/monolithic", digest);
    expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it("assembles a chunked upload from PATCHes with Content-Range, then PUT", async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const parts = [bytes.subarray(0, 1_000_000), bytes.subarray(1_000_000, 2_500_000), bytes.subarray(2_500_000)];
    let location = await startUpload("uploads/chunked");
    let offset = 0;
    for (const part of parts) {
      const response = await registry.fetch(location, {
        method: "PATCH",
        headers: { "Content-Range": `${offset}-${offset + part.length - 1}`, "Content-Length": String(part.length), "Content-Type": "application/octet-stream" },
        body: part,
      });
      expect(response.status).toBe(202);
      offset += part.length;
      expect(response.headers.get("range")).toBe(`0-${offset - 1}`);
      location = response.headers.get("location")!;
    }
    const status = await registry.fetch(location);
    expect(status.status).toBe(204);
    expect(status.headers.get("range")).toBe(`0-${bytes.length - 1}`);

    const digest = sha256(bytes);
    const put = await registry.fetch(`${location}?digest=${digest}`, { method: "PUT" });
    expect(put.status).toBe(201);
    expect(put.headers.get("location")).toBe(`/v2/uploads/chunked/blobs/${digest}`);
    expect(put.headers.get("docker-content-digest")).toBe(digest);
    const get = await registry.getBlob("uploads/chunked", digest);
    expect(sha256(Buffer.from(await get.arrayBuffer()))).toBe(digest);
  });

  it("takes a streamed PATCH without Content-Range and a final chunk on the PUT", async () => {
    const bytes = randomBytes(200_000);
    const location = await startUpload("uploads/streamed");
    const patch = await registry.fetch(location, { method: "PATCH", body: bytes.subarray(0, 150_000) });
    expect(patch.status).toBe(202);
    const digest = sha256(bytes);
    const put = await registry.fetch(`${patch.headers.get("location")}?digest=${digest}`, {
      method: "PUT",
      headers: { "Content-Range": "150000-199999", "Content-Type": "application/octet-stream" },
      body: bytes.subarray(150_000),
    });
    expect(put.status).toBe(201);
    const get = await registry.getBlob("uploads/streamed", digest);
    expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it("answers 416 with the current Range to an out-of-order chunk and keeps the upload intact", async () => {
    const location = await startUpload("uploads/out-of-order");
    await registry.fetch(location, { method: "PATCH", headers: { "Content-Range": "0-9" }, body: Buffer.alloc(10, 1) });
    const skipped = await registry.fetch(location, { method: "PATCH", headers: { "Content-Range": "20-29" }, body: Buffer.alloc(10, 2) });
    expect(skipped.status).toBe(416);
    expect(skipped.headers.get("range")).toBe("0-9");
    const status = await registry.fetch(location);
    expect(status.headers.get("range")).toBe("0-9");
  });

  it("refuses a PUT whose digest does not match and leaves no blob behind", async () => {
    const bytes = randomBytes(1000);
    const wrong = sha256(Buffer.from("something else"));
    const location = await startUpload("uploads/mismatch");
    await registry.fetch(location, { method: "PATCH", body: bytes });
    const put = await registry.fetch(`${location}?digest=${wrong}`, { method: "PUT" });
    expect(put.status).toBe(400);
    expect(await errorCode(put)).toBe("DIGEST_INVALID");
    expect((await registry.fetch(`/v2/uploads/mismatch/blobs/${wrong}`, { method: "HEAD" })).status).toBe(404);
    expect((await registry.fetch(`/v2/uploads/mismatch/blobs/${sha256(bytes)}`, { method: "HEAD" })).status).toBe(404);
  });

  it("refuses a monolithic upload whose digest does not match", async () => {
    const wrong = sha256(Buffer.from("not these bytes"));
    const response = await registry.fetch(`/v2/uploads/mono-mismatch/blobs/uploads/?digest=${wrong}`, { method: "POST", body: randomBytes(100) });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("DIGEST_INVALID");
    expect((await registry.fetch(`/v2/uploads/mono-mismatch/blobs/${wrong}`, { method: "HEAD" })).status).toBe(404);
  });

  it("cancels an upload with DELETE, after which it is unknown", async () => {
    const location = await startUpload("uploads/cancelled");
    await registry.fetch(location, { method: "PATCH", body: randomBytes(100) });
    expect((await registry.fetch(location, { method: "DELETE" })).status).toBe(204);
    const status = await registry.fetch(location);
    expect(status.status).toBe(404);
    expect(await errorCode(status)).toBe("BLOB_UPLOAD_UNKNOWN");
  });

  it("does not let one repository continue another repository's upload", async () => {
    const location = await startUpload("uploads/owner");
    const stolen = location.replace("/uploads/owner/", "/uploads/intruder/");
    const response = await registry.fetch(stolen, { method: "PATCH", body: randomBytes(10) });
    expect(response.status).toBe(404);
    expect(await errorCode(response)).toBe("BLOB_UPLOAD_UNKNOWN");
  });

  it("mounts a blob from another repository without re-uploading it", async () => {
    const digest = await registry.pushBlob("uploads/mount-source", randomBytes(4096));
    const mount = await registry.fetch(`/v2/uploads/mount-target/blobs/uploads/?mount=${digest}&from=uploads/mount-source`, { method: "POST" });
    expect(mount.status).toBe(201);
    expect(mount.headers.get("location")).toBe(`/v2/uploads/mount-target/blobs/${digest}`);
    expect(mount.headers.get("docker-content-digest")).toBe(digest);
    expect((await registry.fetch(`/v2/uploads/mount-target/blobs/${digest}`, { method: "HEAD" })).status).toBe(200);
  });

  it("falls back to a new upload session when the mount source lacks the blob", async () => {
    const absent = sha256(randomBytes(16));
    const mount = await registry.fetch(`/v2/uploads/mount-target/blobs/uploads/?mount=${absent}&from=uploads/mount-source`, { method: "POST" });
    expect(mount.status).toBe(202);
    expect(mount.headers.get("docker-upload-uuid")).toBeTruthy();
    expect((await registry.fetch(`/v2/uploads/mount-target/blobs/${absent}`, { method: "HEAD" })).status).toBe(404);
  });

  it("keeps blobs private to the repositories that pushed or mounted them", async () => {
    const digest = await registry.pushBlob("uploads/private", randomBytes(64));
    const elsewhere = await registry.fetch(`/v2/uploads/other/blobs/${digest}`);
    expect(elsewhere.status).toBe(404);
    expect(await errorCode(elsewhere)).toBe("BLOB_UNKNOWN");
  });

  it("deletes a repository's blob link with DELETE", async () => {
    const digest = await registry.pushBlob("uploads/deleting", randomBytes(64));
    expect((await registry.fetch(`/v2/uploads/deleting/blobs/${digest}`, { method: "DELETE" })).status).toBe(202);
    expect((await registry.fetch(`/v2/uploads/deleting/blobs/${digest}`, { method: "HEAD" })).status).toBe(404);
  });

  it("stores an empty blob", async () => {
    const digest = await registry.pushBlob("uploads/empty", new Uint8Array(0));
    expect(digest).toBe("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const head = await registry.fetch(`/v2/uploads/empty/blobs/${digest}`, { method: "HEAD" });
    expect(head.headers.get("content-length")).toBe("0");
  });
});

describe("blob delivery", () => {
  it("redirects blob GETs to a short-lived read-only storage URL by default", async () => {
    const stack = await startTestStack();
    try {
      const registry = new RegistryClient(stack.registryUrl);
      const bytes = randomBytes(2048);
      const digest = await registry.pushBlob("delivery/redirect", bytes);
      const response = await registry.fetch(`/v2/delivery/redirect/blobs/${digest}`);
      expect(response.status).toBe(307);
      const location = new URL(response.headers.get("location")!);
      expect(location.searchParams.get("sp")).toBe("r");
      expect(new Date(location.searchParams.get("se")!).getTime()).toBeLessThanOrEqual(Date.now() + 601_000);
      const direct = await fetch(location);
      expect(Buffer.from(await direct.arrayBuffer()).equals(bytes)).toBe(true);
      // The read URL cannot write.
      const write = await fetch(location, { method: "PUT", headers: { "x-ms-blob-type": "BlockBlob" }, body: "x" });
      expect(write.status).toBe(403);
    } finally {
      await stack.destroy();
    }
  });

  it("answers every Range form correctly in redirect mode: storage gets plain ranges, the registry serves suffix, unsatisfiable and multi-range requests", async () => {
    const stack = await startTestStack();
    try {
      const registry = new RegistryClient(stack.registryUrl);
      const bytes = randomBytes(10_000);
      const digest = await registry.pushBlob("delivery/ranges", bytes);
      const path = `/v2/delivery/ranges/blobs/${digest}`;
      /** GET with the Range header, following a redirect with the same header, as clients do. */
      async function ranged(range: string): Promise<{ redirected: boolean; status: number; contentRange: string | null; body: Buffer }> {
        const first = await registry.fetch(path, { headers: { Range: range } });
        const redirected = first.status === 307;
        const response = redirected ? await fetch(first.headers.get("location")!, { headers: { Range: range } }) : first;
        return { redirected, status: response.status, contentRange: response.headers.get("content-range"), body: Buffer.from(await response.arrayBuffer()) };
      }
      const closed = await ranged("bytes=100-199");
      expect(closed).toMatchObject({ redirected: true, status: 206, contentRange: "bytes 100-199/10000" });
      expect(closed.body.equals(bytes.subarray(100, 200))).toBe(true);
      const open = await ranged("bytes=9000-");
      expect(open).toMatchObject({ redirected: true, status: 206, contentRange: "bytes 9000-9999/10000" });
      expect(open.body.equals(bytes.subarray(9000))).toBe(true);
      const pastTheEnd = await ranged("bytes=9990-20000");
      expect(pastTheEnd).toMatchObject({ status: 206, contentRange: "bytes 9990-9999/10000" });
      expect(pastTheEnd.body.equals(bytes.subarray(9990))).toBe(true);
      const suffix = await ranged("bytes=-500");
      expect(suffix).toMatchObject({ redirected: false, status: 206, contentRange: "bytes 9500-9999/10000" });
      expect(suffix.body.equals(bytes.subarray(9500))).toBe(true);
      const longSuffix = await ranged("bytes=-20000");
      expect(longSuffix).toMatchObject({ redirected: false, status: 206, contentRange: "bytes 0-9999/10000" });
      expect(longSuffix.body.equals(bytes)).toBe(true);
      const unsatisfiable = await ranged("bytes=20000-");
      expect(unsatisfiable).toMatchObject({ redirected: false, status: 416, contentRange: "bytes */10000" });
      expect(JSON.parse(unsatisfiable.body.toString()).errors[0].code).toBe("RANGE_INVALID");
      // Several ranges: ignored as RFC 9110 allows, the whole blob from the registry.
      const several = await ranged("bytes=0-9,20-29");
      expect(several).toMatchObject({ redirected: false, status: 200 });
      expect(several.body.equals(bytes)).toBe(true);
    } finally {
      await stack.destroy();
    }
  });

  it("streams bytes and honours Range when set to stream", async () => {
    const stack = await startTestStack({ settings: { REGISTRY_BLOB_DELIVERY: "stream" } });
    try {
      const registry = new RegistryClient(stack.registryUrl);
      const bytes = randomBytes(10_000);
      const digest = await registry.pushBlob("delivery/stream", bytes);
      const whole = await registry.fetch(`/v2/delivery/stream/blobs/${digest}`);
      expect(whole.status).toBe(200);
      expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);
      const part = await registry.fetch(`/v2/delivery/stream/blobs/${digest}`, { headers: { Range: "bytes=100-199" } });
      expect(part.status).toBe(206);
      expect(part.headers.get("content-range")).toBe("bytes 100-199/10000");
      expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true);
      const outside = await registry.fetch(`/v2/delivery/stream/blobs/${digest}`, { headers: { Range: "bytes=20000-" } });
      expect(outside.status).toBe(416);
      expect(outside.headers.get("content-range")).toBe("bytes */10000");
    } finally {
      await stack.destroy();
    }
  });
});
