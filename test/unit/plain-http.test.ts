/**
 * shared/remote/plain-http.ts, the GET client that reads bodies into the caller's buffers, and
 * RegistryHttpClient's use of it (`intoBuffers`), against real servers on loopback: node:http
 * where it can show the behaviour, a raw TCP server where a response must be written byte by
 * byte (close-delimited bodies, 1xx, malformed answers, a connection cut mid-body).
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import net, { type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { PlainHttpPool, type PlainHttpResponse } from "../../dist/shared/remote/plain-http.js";
import { RegistryHttpClient, RemoteError, RemoteUnreachableError, isTransientError } from "../../dist/shared/remote/http-client.js";

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A node:http server; counts the distinct connections it saw, and those closed since. */
async function httpServer(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ url: string; connections: () => number; closed: () => number; server: Server }> {
  let connections = 0;
  let closed = 0;
  const server = createServer(handler);
  server.on("connection", (socket: net.Socket) => {
    connections++;
    socket.on("close", () => closed++);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  closers.push(() => server.closeAllConnections());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections, closed: () => closed, server };
}

/** A TCP server that answers each request (a chunk of bytes in) with `answer(socket, n)`, n counting from 1 per connection. */
async function rawServer(answer: (socket: net.Socket, request: number) => void): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    let requests = 0;
    socket.on("data", () => answer(socket, ++requests));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function newPool(options: Partial<{ maxSockets: number; timeoutMs: number }> = {}): PlainHttpPool {
  const pool = new PlainHttpPool({ maxSockets: 4, timeoutMs: 5_000, ...options });
  closers.push(() => pool.close());
  return pool;
}

/** Reads the whole body with readInto, `size` bytes at a time; returns it and the read sizes. */
async function readAll(response: PlainHttpResponse, size: number): Promise<{ body: Buffer; reads: number[] }> {
  const parts: Buffer[] = [];
  const reads: number[] = [];
  for (;;) {
    const target = Buffer.alloc(size);
    const count = await response.readInto(target);
    if (count === 0) break;
    reads.push(count);
    parts.push(target.subarray(0, count));
  }
  return { body: Buffer.concat(parts), reads };
}

describe("plain HTTP GET into the caller's buffers", () => {
  it("reads a Content-Length body into the caller's buffers, filling each, and reuses the connection", async () => {
    const content = randomBytes(3 * 1024 * 1024 + 123);
    const server = await httpServer((_request, response) => {
      response.writeHead(200, { "content-length": content.length, "x-repeated": ["a", "b"] });
      response.end(content);
    });
    const pool = newPool();
    const first = await pool.get(new URL(`${server.url}/blob?sig=secret`), { "User-Agent": "test" });
    expect(first.status).toBe(200);
    expect(first.headers["content-length"]).toBe(String(content.length));
    expect(first.headers["x-repeated"]).toEqual(["a", "b"]);
    const { body, reads } = await readAll(first, 1024 * 1024);
    expect(body.equals(content)).toBe(true);
    // Every read but the last fills the buffer it was given.
    expect(reads.slice(0, -1).every((count) => count === 1024 * 1024)).toBe(true);
    expect(await first.readInto(Buffer.alloc(10))).toBe(0);

    const second = await pool.get(new URL(`${server.url}/blob`), {});
    expect((await readAll(second, 64 * 1024)).body.equals(content)).toBe(true);
    expect(server.connections()).toBe(1);
  });

  it("decodes a chunked body and then reuses the connection", async () => {
    const pieces = [randomBytes(10), randomBytes(70_000), randomBytes(1), randomBytes(200_000)];
    const server = await httpServer(async (_request, response) => {
      response.writeHead(200, { "content-type": "application/octet-stream" }); // no length: node sends it chunked
      for (const piece of pieces) {
        response.write(piece);
        await new Promise((resolve) => setImmediate(resolve));
      }
      response.end();
    });
    const pool = newPool();
    const first = await pool.get(new URL(`${server.url}/chunked`), {});
    expect(first.headers["transfer-encoding"]).toBe("chunked");
    expect((await readAll(first, 4096)).body.equals(Buffer.concat(pieces))).toBe(true);
    const second = await pool.get(new URL(`${server.url}/chunked`), {});
    expect((await readAll(second, 1 << 20)).body.equals(Buffer.concat(pieces))).toBe(true);
    expect(server.connections()).toBe(1);
  });

  it("reads a body that ends with the connection, skipping a 100 Continue before the answer", async () => {
    const content = randomBytes(300_000);
    const url = await rawServer((socket) => {
      socket.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\nX-Test: yes\r\n\r\n");
      socket.end(content);
    });
    const response = await newPool().get(new URL(`${url}/x`), {});
    expect(response.status).toBe(200);
    expect(response.headers["x-test"]).toBe("yes");
    expect((await readAll(response, 100_000)).body.equals(content)).toBe(true);
  });

  it("returns the bytes that arrived before a connection cut mid-body, then a transient error", async () => {
    const url = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n${"x".repeat(400)}`);
      setTimeout(() => socket.destroy(), 50);
    });
    const response = await newPool().get(new URL(`${url}/cut`), {});
    let got = 0;
    let failure: unknown;
    try {
      for (;;) {
        const count = await response.readInto(Buffer.alloc(1000));
        if (count === 0) break;
        got += count;
      }
    } catch (error) {
      failure = error;
    }
    expect(got).toBe(400);
    expect(failure).toBeInstanceOf(RemoteUnreachableError);
    expect(isTransientError(failure)).toBe(true);
  });

  it("names the request that failed, not the one that opened its connection", async () => {
    const url = await rawServer((socket, request) => {
      if (request === 1) socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      else {
        socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        setTimeout(() => socket.destroy(), 30);
      }
    });
    const pool = newPool();
    expect((await readAll(await pool.get(new URL(`${url}/first`), {}), 10)).body.toString()).toBe("ok");
    const second = await pool.get(new URL(`${url}/second`), {});
    const failure = await readAll(second, 10).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RemoteUnreachableError);
    expect((failure as Error).message).toMatch(/\/second/);
  });

  it("fails a body that goes quiet after timeoutMs, as a transient ETIMEDOUT", async () => {
    const url = await rawServer((socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
    const response = await newPool({ timeoutMs: 300 }).get(new URL(`${url}/slow`), {});
    const target = Buffer.alloc(10);
    expect(await response.readInto(target)).toBe(3);
    const started = Date.now();
    const failure = await response.readInto(target).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RemoteUnreachableError);
    expect((failure as RemoteUnreachableError).code).toBe("ETIMEDOUT");
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("drops a kept-alive connection the server closes while it is idle", async () => {
    const server = await httpServer((_request, response) => {
      response.writeHead(200, { "content-length": 2 });
      response.end("ok");
    });
    const pool = newPool();
    const first = await pool.get(new URL(`${server.url}/a`), {});
    expect((await readAll(first, 10)).body.toString()).toBe("ok");
    server.server.closeIdleConnections();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await pool.get(new URL(`${server.url}/b`), {});
    expect((await readAll(second, 10)).body.toString()).toBe("ok");
    expect(server.connections()).toBe(2);
  });

  it("asks once more on a fresh connection when a kept-alive one closes as the request goes out, not when a fresh one does", async () => {
    let connections = 0;
    // Each connection answers its first request and drops the second unanswered (the server's
    // idle timeout meeting the request on the wire).
    const url = await rawServer((socket, request) => {
      if (request === 1) connections++;
      if (request === 1) socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      else socket.destroy();
    });
    const pool = newPool();
    expect((await readAll(await pool.get(new URL(`${url}/a`), {}), 10)).body.toString()).toBe("ok");
    expect((await readAll(await pool.get(new URL(`${url}/b`), {}), 10)).body.toString()).toBe("ok");
    expect(connections).toBe(2);

    const dropsAll = await rawServer((socket) => socket.destroy());
    const failure = await pool.get(new URL(`${dropsAll}/c`), {}).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RemoteUnreachableError);
    expect(isTransientError(failure)).toBe(true);
  });

  it("closes a connection whose body was not read to its end instead of reusing it", async () => {
    const content = randomBytes(2 * 1024 * 1024);
    const server = await httpServer((_request, response) => {
      response.writeHead(200, { "content-length": content.length });
      response.end(content);
    });
    const pool = newPool();
    const first = await pool.get(new URL(`${server.url}/big`), {});
    expect(await first.readInto(Buffer.alloc(1000))).toBe(1000);
    first.body.destroy();
    // Closed, not left open and paused.
    for (let waited = 0; server.closed() === 0 && waited < 2_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.closed()).toBe(1);
    const second = await pool.get(new URL(`${server.url}/big`), {});
    expect(createHash("sha256").update((await readAll(second, 1 << 20)).body).digest("hex")).toBe(createHash("sha256").update(content).digest("hex"));
    expect(server.connections()).toBe(2);
  });

  it("keeps to maxSockets per origin: further requests wait for a connection", async () => {
    let open = 0;
    let most = 0;
    const server = await httpServer((_request, response) => {
      open++;
      most = Math.max(most, open);
      setTimeout(() => {
        open--;
        response.writeHead(200, { "content-length": 1 });
        response.end("k");
      }, 30);
    });
    const pool = newPool({ maxSockets: 2 });
    const bodies = await Promise.all(Array.from({ length: 6 }, async (_, i) => readAll(await pool.get(new URL(`${server.url}/${i}`), {}), 8)));
    expect(bodies.map((b) => b.body.toString())).toEqual(Array(6).fill("k"));
    expect(most).toBe(2);
    expect(server.connections()).toBe(2);
  });

  it("refuses what it cannot read: a line break in a header, an answer that is not HTTP, headers too large, a refused connection", async () => {
    const pool = newPool();
    await expect(pool.get(new URL("http://127.0.0.1:1/x"), { "X-Evil": "a\r\nInjected: yes" })).rejects.toThrow(/line break/);
    const notHttp = await rawServer((socket) => socket.end("SSH-2.0-OpenSSH\r\n\r\n"));
    await expect(pool.get(new URL(`${notHttp}/x`), {})).rejects.toThrow(/not an HTTP\/1\.x response/);
    const huge = await rawServer((socket) => socket.write(`HTTP/1.1 200 OK\r\nX-Big: ${"b".repeat(70_000)}\r\n\r\n`));
    await expect(pool.get(new URL(`${huge}/x`), {})).rejects.toThrow(/headers larger than/);
    const refused = await pool.get(new URL("http://127.0.0.1:1/x"), {}).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RemoteUnreachableError);
    expect((refused as RemoteUnreachableError).code).toBe("ECONNREFUSED");
  });

  it("gives up on a server that takes the request and never answers, after timeoutMs", async () => {
    const silent = await rawServer(() => {});
    const started = Date.now();
    const failure = await newPool({ timeoutMs: 300 }).get(new URL(`${silent}/x`), {}).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RemoteUnreachableError);
    expect((failure as RemoteUnreachableError).code).toBe("ETIMEDOUT");
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe("RegistryHttpClient with intoBuffers", () => {
  it("follows the registry's redirect to storage without the registry's credentials, and reads the blob into buffers", async () => {
    const content = randomBytes(1024 * 1024 + 7);
    const seen: Array<string | undefined> = [];
    const storage = await httpServer((request, response) => {
      seen.push(request.headers.authorization);
      response.writeHead(200, { "content-length": content.length });
      response.end(content);
    });
    const registry = await httpServer((request, response) => {
      seen.push(request.headers.authorization);
      if (request.url?.startsWith("/v2/repo/blobs/")) {
        response.writeHead(307, { location: `${storage.url}/container/blob?sig=secret`, "content-length": 0 });
        response.end();
      } else {
        const error = JSON.stringify({ errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown to registry" }] });
        response.writeHead(404, { "content-type": "application/json", "content-length": Buffer.byteLength(error) });
        response.end(error);
      }
    });
    const client = new RegistryHttpClient({ protocol: "http", endpoint: new URL(registry.url).host, username: "sync", password: "pw", userAgent: "test" });
    closers.push(() => client.close());
    const response = await client.request("GET", "/v2/repo/blobs/sha256:abc", { intoBuffers: true });
    expect(response.status).toBe(200);
    expect(response.redirects).toBe(1);
    expect(response.origin).toBe(storage.url);
    expect(response.readInto).toBeTypeOf("function");
    expect((await readAll(response as PlainHttpResponse, 256 * 1024)).body.equals(content)).toBe(true);
    expect(seen[0]).toMatch(/^Basic /);
    expect(seen[1]).toBeUndefined();

    // An error answer on the same path is read as a stream (body), as before.
    const missing = await client.request("GET", "/v2/repo/manifests/x", { intoBuffers: true });
    const error = await RemoteError.fromResponse(missing, "GET manifest");
    expect(error.message).toMatch(/404/);
    expect(error.code).toBe("BLOB_UNKNOWN");

    // Without intoBuffers, the same GET comes back from node:http, with no readInto.
    const plain = await client.request("GET", "/v2/repo/blobs/sha256:abc");
    expect(plain.readInto).toBeUndefined();
    expect((await plain.bytes()).equals(content)).toBe(true);
  });
});
