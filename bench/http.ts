/**
 * Minimal HTTP client on node:http for the benchmark: buffered calls, streamed uploads
 * (chunked, no Content-Length, as docker and podman PATCH a layer) and downloads that
 * follow redirects. It refuses anything but loopback addresses.
 */
import { request as httpRequest, type Agent, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

export function assertLoopback(url: URL): void {
  // https only for the local emulator a registry redirects to (the identity profile).
  if ((url.protocol !== "http:" && url.protocol !== "https:") || !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new Error(`the benchmark only talks to loopback, not ${url.origin}`);
  }
}

export interface CallOptions {
  method: string;
  agent: Agent;
  headers?: OutgoingHttpHeaders;
  /** A Buffer is sent with Content-Length; an iterable is streamed chunked. */
  body?: Buffer | Iterable<Buffer> | AsyncIterable<Buffer>;
  /** Socket inactivity limit. */
  timeoutMs: number;
}

export interface BufferedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Sends a request and resolves with the response head, body unread. */
const httpsAgent = new HttpsAgent({ keepAlive: true });

export function open(url: URL, options: CallOptions): Promise<IncomingMessage> {
  assertLoopback(url);
  return new Promise((resolve, reject) => {
    const headers: OutgoingHttpHeaders = { ...options.headers };
    if (Buffer.isBuffer(options.body)) headers["content-length"] = String(options.body.length);
    // A redirect to storage over HTTPS (the identity profile) needs an HTTPS agent of its own.
    const req = url.protocol === "https:" ? httpsRequest(url, { method: options.method, agent: httpsAgent, headers }, resolve) : httpRequest(url, { method: options.method, agent: options.agent, headers }, resolve);
    req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`${options.method} ${url.pathname}: no activity for ${options.timeoutMs} ms`)));
    req.on("error", reject);
    const body = options.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else pipeline(Readable.from(body, { objectMode: false }), req).catch(reject);
  });
}

export async function readAll(res: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of res) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

export async function call(url: URL, options: CallOptions): Promise<BufferedResponse> {
  const res = await open(url, options);
  const body = await readAll(res);
  return { status: res.statusCode ?? 0, headers: res.headers, body };
}

/** Throws with the response's body when the status is not the expected one. */
export function expectStatus(response: BufferedResponse, expected: number, what: string): void {
  if (response.status !== expected) {
    throw new Error(`${what}: expected ${expected}, got ${response.status}: ${response.body.toString("utf8").slice(0, 500)}`);
  }
}

export function header(response: { headers: IncomingHttpHeaders }, name: string): string {
  const value = response.headers[name.toLowerCase()];
  const first = Array.isArray(value) ? value[0] : value;
  if (!first) throw new Error(`response has no ${name} header`);
  return first;
}

export interface DownloadResult {
  status: number;
  bytes: number;
  /** Origins of the redirects followed, in order. */
  redirects: string[];
  /** Seconds until the final response's head arrived. */
  headSeconds: number;
}

/**
 * GETs a URL, following up to `maxRedirects` redirects, and feeds the final body to `onData`.
 * `headers` (e.g. Authorization) go only to the starting URL's origin, never to a redirect target.
 */
export async function download(
  start: URL,
  options: { agent: Agent; timeoutMs: number; maxRedirects?: number; onData: (chunk: Buffer) => void; headers?: OutgoingHttpHeaders },
): Promise<DownloadResult> {
  const began = process.hrtime.bigint();
  const redirects: string[] = [];
  let url = start;
  for (let hop = 0; ; hop++) {
    const headers = url.origin === start.origin ? options.headers : undefined;
    const res = await open(url, { method: "GET", agent: options.agent, timeoutMs: options.timeoutMs, ...(headers ? { headers } : {}) });
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hop >= (options.maxRedirects ?? 5)) throw new Error(`more than ${options.maxRedirects ?? 5} redirects from ${start.pathname}`);
      url = new URL(res.headers.location, url);
      redirects.push(url.origin);
      continue;
    }
    const headSeconds = Number(process.hrtime.bigint() - began) / 1e9;
    if (status !== 200) {
      const body = await readAll(res);
      throw new Error(`GET ${url.pathname}: expected 200, got ${status}: ${body.toString("utf8").slice(0, 500)}`);
    }
    let bytes = 0;
    for await (const chunk of res) {
      bytes += (chunk as Buffer).length;
      options.onData(chunk as Buffer);
    }
    return { status, bytes, redirects, headSeconds };
  }
}

/** The cloud's management API with the admin key: a call that answers the parsed JSON or throws naming the status. */
export function management(base: URL, adminKey: string) {
  return async (method: string, path: string, body?: unknown): Promise<any> => {
    const response = await fetch(new URL(`/management/${path}`, base), {
      method,
      headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} /management/${path} answered ${response.status}: ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
}

/** A token on the built-in _repositories_admin scope map, with a new password, and its Basic header. */
export async function pushToken(manage: ReturnType<typeof management>, name: string): Promise<{ password: string; headers: OutgoingHttpHeaders }> {
  await manage("POST", "tokens", { name, scopeMap: "_repositories_admin" });
  const password = (await manage("POST", `tokens/${name}/credentials/generate`, { name: "password1" })).passwords[0].value as string;
  return { password, headers: { authorization: `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}` } };
}
