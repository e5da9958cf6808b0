/**
 * HTTP exactly as written, over a plain socket: fetch (and URL) would normalise "..", "%2e%2e"
 * and friends, which is what a probe avoids; and a client that stops mid-body needs the socket.
 */
import { connect, type Socket } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends one request (with Connection: close) and reads the answer until the server closes. */
export function rawRequest(baseUrl: string, method: string, path: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const headers = { Host: url.host, Connection: "close", ...(options.body !== undefined ? { "Content-Length": String(Buffer.byteLength(options.body)) } : {}), ...options.headers };
  const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")}\r\n`;
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(head + (options.body ?? "")));
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks).toString("utf8")));
      } catch (error) {
        reject(error);
      }
    });
  });
}

export function parseResponse(text: string): RawResponse {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`no complete response in ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(end + 4);
  if (headers["transfer-encoding"] === "chunked") body = unchunk(body);
  return { status: Number(statusLine!.split(" ")[1]), headers, body };
}

function unchunk(text: string): string {
  let out = "";
  let rest = text;
  for (;;) {
    const newline = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, newline), 16);
    if (!size) return out;
    out += rest.slice(newline + 2, newline + 2 + size);
    rest = rest.slice(newline + 2 + size + 2);
  }
}

export interface StalledRequest {
  socket: Socket;
  /** Resolves when the server closes the connection: what it sent, and when. */
  closed: Promise<{ at: number; text: string }>;
}

/** Sends the headers and `sent` of a body that announces `length` bytes, then goes quiet. */
export function stalledRequest(baseUrl: string, method: string, path: string, length: number, sent: string, headers: Record<string, string> = {}): StalledRequest {
  const url = new URL(baseUrl);
  const socket = connect(Number(url.port), url.hostname, () => {
    const all = { Host: url.host, "Content-Length": String(length), ...headers };
    socket.write(`${method} ${path} HTTP/1.1\r\n${Object.entries(all).map(([name, value]) => `${name}: ${value}\r\n`).join("")}\r\n${sent}`);
  });
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<{ at: number; text: string }>((resolve) => {
    socket.on("error", () => {});
    socket.on("close", () => resolve({ at: Date.now(), text: Buffer.concat(chunks).toString("utf8") }));
  });
  return { socket, closed };
}

/**
 * GETs `path` and hangs up the moment `length` body bytes have arrived, as a client that
 * knows the length does (before the server has seen the end of its own stream). Resolves
 * with the body bytes received.
 */
export function downloadThenHangUp(baseUrl: string, path: string, length: number, headers: Record<string, string> = {}): Promise<number> {
  const url = new URL(baseUrl);
  const headerLines = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  return new Promise<number>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(`GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\n${headerLines}\r\n`));
    let bytes = 0;
    let head = Buffer.alloc(0);
    let inBody = false;
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      if (!inBody) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        inBody = true;
        bytes = head.length - end - 4;
      } else bytes += chunk.length;
      if (bytes >= length) {
        socket.destroy();
        resolve(bytes);
      }
    });
  });
}

/** Starts a request whose headers never end; resolves when the server closes it, with what it answered. */
export function unfinishedHeaders(baseUrl: string): Promise<{ at: number; text: string }> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${url.host}\r\nX-Slow: `));
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
    socket.on("error", () => {});
    socket.on("close", () => resolve({ at: Date.now(), text }));
  });
}
