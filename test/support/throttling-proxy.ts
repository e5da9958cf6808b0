/**
 * A slow link for tests: a forward HTTP proxy (absolute-URI requests, what the edge agent
 * sends through HTTP_PROXY to an http parent) that passes answers on at a fixed rate shared by
 * every connection. Storage's SAS URLs go through it too, so a blob download is as slow as a
 * thin link makes it, without touching the product's own bandwidth code.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Transform, type TransformCallback } from "node:stream";

export interface ThrottlingProxy {
  /** http://127.0.0.1:<port>, for HTTP_PROXY. */
  url: string;
  /** Answer bytes passed on so far. */
  bytes(): number;
  stop(): Promise<void>;
}

const PIECE = 16 * 1024;

export async function startThrottlingProxy(bytesPerSecond: number): Promise<ThrottlingProxy> {
  // One schedule for all connections: the rate is the link's, not each download's.
  let nextFree = Date.now();
  let passed = 0;
  const throttle = (): Transform =>
    new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        const pieces: Buffer[] = [];
        for (let offset = 0; offset < chunk.length; offset += PIECE) pieces.push(chunk.subarray(offset, offset + PIECE));
        const sendNext = (): void => {
          const piece = pieces.shift();
          if (!piece) return callback();
          const now = Date.now();
          const start = Math.max(now, nextFree);
          nextFree = start + (piece.length / bytesPerSecond) * 1000;
          setTimeout(() => {
            passed += piece.length;
            this.push(piece);
            sendNext();
          }, start - now);
        };
        sendNext();
      },
    });
  const sockets = new Set<import("node:net").Socket>();
  const server = http.createServer((request, response) => {
    let target: URL;
    try {
      target = new URL(request.url ?? "");
    } catch {
      response.writeHead(400).end("absolute-URI requests only");
      return;
    }
    const headers = { ...request.headers };
    delete headers["proxy-connection"];
    delete headers["proxy-authorization"];
    const upstream = http.request({ host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: request.method, headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(throttle()).pipe(response);
    });
    upstream.on("error", () => response.destroy());
    request.pipe(upstream);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bytes: () => passed,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
