/**
 * Blob bodies read from local files (shared/http/file-body.ts): the edge's content store hands
 * them out, and the local host writes them with two reused buffers instead of a fresh buffer
 * per read (the fresh buffers made V8 run a full GC every few tens of ms while serving big
 * blobs). Imported from dist/ (run `npx tsc -p tsconfig.json` first), like the other edge tests.
 */
import { randomBytes, createHash } from "node:crypto";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { FileBody } from "../../dist/shared/http/file-body.js";
import { startLocalHost } from "../../dist/shared/http/local-host.js";
import { createV2Handler } from "../../dist/shared/registry/v2-handler.js";
import { FsBlobStore } from "../../dist/edge-agent/src/store/fs-blob-store.js";
import { FsMetadataStore } from "../../dist/edge-agent/src/store/fs-metadata-store.js";
import { FsChangeStore } from "../../dist/edge-agent/src/store/fs-change-store.js";
import { fileRegistryContext } from "../support/edge-registry.js";
import { openFilesUnder } from "../support/open-files.js";

const MIB = 1024 * 1024;
/** Not a multiple of the 512 KiB read size: the last read is short. */
const content = randomBytes(5 * MIB + 12_345);
const digest = `sha256:${createHash("sha256").update(content).digest("hex")}`;

let dir: string;
let file: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "file-body-"));
  file = join(dir, "blob");
  await writeFile(file, content);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A destination that takes its time with every chunk and copies it only when it calls back. */
function slowDestination(): { destination: Writable; received: () => Buffer; arrayBuffers: Set<ArrayBufferLike> } {
  const parts: Buffer[] = [];
  const arrayBuffers = new Set<ArrayBufferLike>();
  const destination = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, callback) {
      arrayBuffers.add(chunk.buffer);
      // Were the buffer read into again before this callback, the copy would show other bytes.
      setTimeout(() => {
        parts.push(Buffer.from(chunk));
        callback();
      }, 2);
    },
  });
  return { destination, received: () => Buffer.concat(parts), arrayBuffers };
}

describe("FileBody", () => {
  it("writes the whole file through two reused buffers, each refilled only after the destination is done with it", async () => {
    const { destination, received, arrayBuffers } = slowDestination();
    const body = new FileBody(await open(file, "r"));
    expect(await body.writeTo(destination)).toBe(content.length);
    expect(received().equals(content)).toBe(true);
    expect(arrayBuffers.size).toBeLessThanOrEqual(2);
  });

  it("writes a range that crosses read boundaries", async () => {
    const { destination, received } = slowDestination();
    const range = { start: MIB - 7, end: 3 * MIB + 100 };
    const body = new FileBody(await open(file, "r"), range);
    expect(await body.writeTo(destination)).toBe(range.end - range.start + 1);
    expect(received().equals(content.subarray(range.start, range.end + 1))).toBe(true);
  });

  it("yields fresh buffers when iterated, for consumers that keep chunks", async () => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of new FileBody(await open(file, "r"), { start: 10, end: 2 * MIB })) chunks.push(chunk);
    expect(new Set(chunks.map((chunk) => chunk.buffer)).size).toBe(chunks.length);
    expect(Buffer.concat(chunks).equals(content.subarray(10, 2 * MIB + 1))).toBe(true);
  });

  it("stops when the client goes away and closes the file", async () => {
    const handle = await open(file, "r");
    const gone = new AbortController();
    // A destination that never calls back, like a socket destroyed under a pending write.
    const stuck = new Writable({ write() {} });
    const writing = new FileBody(handle).writeTo(stuck, gone.signal);
    setTimeout(() => gone.abort(new Error("the client closed the connection")), 20);
    await expect(writing).rejects.toThrow("the client closed the connection");
    expect(handle.fd).toBe(-1);
  });

  it("can be read once", async () => {
    const body = new FileBody(await open(file, "r"));
    await body.writeTo(slowDestination().destination);
    await expect(body.writeTo(slowDestination().destination)).rejects.toThrow("read once");
  });
});

describe("the local host serving the edge's file store", () => {
  let url: string;
  let close: () => Promise<void>;
  let root: string;

  beforeAll(async () => {
    root = join(dir, "edge");
    const blobs = new FsBlobStore(root);
    const metadata = new FsMetadataStore(join(root, "metadata"));
    await blobs.writeContent(digest, content);
    await metadata.putBlobLink("library/big", { digest, size: content.length });
    const changeStore = await FsChangeStore.open(join(root, "changes"));
    const registry = await fileRegistryContext(metadata, blobs, changeStore);
    const host = await startLocalHost([{ name: "v2", route: "v2/{*path}", methods: ["GET", "HEAD"], handler: createV2Handler(registry, () => undefined) }], [], {
      host: "127.0.0.1",
      port: 0,
      log: () => undefined,
    });
    url = `${host.url}/v2/library/big/blobs/${digest}`;
    close = async () => {
      await host.close();
      await changeStore.close();
    };
  });
  afterAll(async () => close?.());

  /** A GET read slowly (paused between chunks), so the server's writes wait on the socket. */
  function get(headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      request(url, { headers }, (response) => {
        const parts: Buffer[] = [];
        response.on("data", (chunk: Buffer) => {
          parts.push(chunk);
          if (parts.length % 16 === 0) {
            response.pause();
            setTimeout(() => response.resume(), 1);
          }
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(parts) }));
        response.on("error", reject);
      })
        .on("error", reject)
        .end();
    });
  }

  it("serves every byte of a blob to a slow reader, and ranges of it", async () => {
    const whole = await get();
    expect(whole.status).toBe(200);
    expect(whole.body.equals(content)).toBe(true);
    const part = await get({ Range: `bytes=${MIB - 1}-${2 * MIB}` });
    expect(part.status).toBe(206);
    expect(part.body.equals(content.subarray(MIB - 1, 2 * MIB + 1))).toBe(true);
  });

  it("keeps serving after a client hangs up mid-blob", async () => {
    await new Promise<void>((resolve) => {
      const req = request(url, (response) => {
        response.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.on("error", () => resolve());
      req.end();
    });
    const again = await get();
    expect(again.body.equals(content)).toBe(true);
  });

  it("leaves no blob file open after a GET, a Range, a HEAD and a client that hung up", async () => {
    await new Promise<void>((resolve, reject) => request(url, { method: "HEAD" }, (response) => response.resume().on("end", resolve)).on("error", reject).end());
    // The GETs, the Range and the hang-up are the tests before this one; the hang-up's file is closed once the server sees the socket go.
    await vi.waitFor(() => expect(openFilesUnder(join(root, "blobs"))).toEqual([]), { timeout: 5000 });
  });
});
