/**
 * An HTTP client for another registry's Distribution and sync APIs: an edge agent's parent,
 * or the source of an import.
 *
 * Built on node:http/node:https rather than global fetch because it needs a custom CA (private
 * PKI on premises), long-lived keep-alive sockets for many small calls, and full control over
 * redirects: registries answer blob GETs with a redirect to storage (a Blob Storage SAS URL, S3),
 * and the registry's credentials must never travel to that other origin.
 *
 * An origin that the outbound proxy settings cover (HTTPS_PROXY, HTTP_PROXY, NO_PROXY: proxy.ts)
 * is reached through undici's ProxyAgent instead (proxied-transport.ts); the rest of this client
 * (redirects, credentials per origin, token retry) is the same for both.
 *
 * Credentials are never logged nor put in error messages; SAS URLs (whose query string is a
 * credential too) only appear in errors as origin + path.
 */
import http from "node:http";
import https from "node:https";
import { rootCertificates } from "node:tls";
import { Readable } from "node:stream";
import { NodeHeaders } from "../http/node-headers.js";
import type { HeaderReader } from "../http/types.js";
import { RemoteError, RemoteUnreachableError } from "./errors.js";
import { PlainHttpPool, type BufferReader } from "./plain-http.js";
import { ProxiedTransport } from "./proxied-transport.js";
import { proxyFor, type ProxySettings } from "./proxy.js";

export interface RegistryHttpClientOptions {
  protocol: "https" | "http";
  /** host[:port] of the registry. */
  endpoint: string;
  /** Sent as Basic credentials (an edge's sync token); none: requests go without, unless a call brings its own. */
  username?: string;
  password?: string;
  /** PEM of the CA that signed the registry's certificate (added to the system roots for other origins). */
  ca?: string | Buffer;
  userAgent: string;
  /** Sockets per origin; default 16. */
  maxSockets?: number;
  /** Socket idle timeout (connect, headers or body): no data for this long fails the request. Default 30 s. */
  timeoutMs?: number;
  /**
   * When a /v2/ request with the Basic credentials is refused, get a Bearer token for its
   * repository from the registry's token server and try once more (an edge agent's parent).
   */
  tokenWhenDenied?: boolean;
  /** The outbound proxy (shared/remote/proxy.ts): requests to origins it covers go through it, the token server's included. */
  proxy?: ProxySettings;
}

export interface RequestInit {
  headers?: Record<string, string>;
  body?: Uint8Array | string | AsyncIterable<Uint8Array>;
  /** Replaces the Basic credentials; null sends no Authorization header. */
  authorization?: string | null;
  /**
   * The caller will read the body with `readInto`: a GET to a plain-HTTP origin without a
   * proxy then goes on a connection that reads straight into the caller's buffers
   * (plain-http.ts). Other requests ignore it, and their responses have no `readInto`.
   */
  intoBuffers?: boolean;
}

export interface RemoteResponse {
  status: number;
  headers: HeaderReader;
  /** The response body; it must be consumed or destroyed, or the socket is never reused. */
  body: Readable;
  /** Origin (scheme://host:port) that answered, after redirects; no path, so no SAS credentials. */
  origin: string;
  /** How many redirects were followed to get here. */
  redirects: number;
  /** The proxy (scheme://host:port, no credentials) the answer came through, when one did. */
  proxy?: string;
  text(): Promise<string>;
  json<T>(): Promise<T>;
  /** Reads the whole body; throws when it is longer than maxBytes (when given). */
  bytes(maxBytes?: number): Promise<Buffer>;
  /** With `intoBuffers` over plain HTTP: reads the body into the caller's buffer (plain-http.ts's readInto); use it or `body`, not both. */
  readInto?: BufferReader["readInto"];
}

export { RemoteError, RemoteUnreachableError, isTransientError } from "./errors.js";
export type { BufferReader } from "./plain-http.js";

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

export class RegistryHttpClient {
  readonly origin: string;
  private readonly authorization: string | null;
  private readonly tokens = new Map<string, { token: string; until: number }>();
  private readonly timeoutMs: number;
  private readonly httpAgent: http.Agent;
  /** For the registry itself: trusts the configured CA (or the system roots when none is given). */
  private readonly registryHttpsAgent: https.Agent;
  /** For other https origins (Blob Storage): the system roots plus the configured CA. */
  private readonly foreignHttpsAgent: https.Agent;
  private readonly proxied: ProxiedTransport | undefined;
  private readonly plain: PlainHttpPool;

  constructor(private readonly options: RegistryHttpClientOptions) {
    this.origin = `${options.protocol}://${options.endpoint}`;
    // Fail early on a malformed endpoint rather than on the first request.
    new URL(this.origin);
    this.authorization = options.username !== undefined ? `Basic ${Buffer.from(`${options.username}:${options.password ?? ""}`).toString("base64")}` : null;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 16, timeout: this.timeoutMs };
    this.httpAgent = new http.Agent(agentOptions);
    this.plain = new PlainHttpPool({ maxSockets: agentOptions.maxSockets, timeoutMs: this.timeoutMs });
    this.registryHttpsAgent = new https.Agent({ ...agentOptions, ...(options.ca ? { ca: options.ca } : {}) });
    // `ca` replaces the system roots, so a storage account with a public certificate would fail
    // to verify if it were given alone.
    this.foreignHttpsAgent = new https.Agent({ ...agentOptions, ...(options.ca ? { ca: [...rootCertificates, options.ca.toString()] } : {}) });
    this.proxied = options.proxy
      ? new ProxiedTransport({
          registryTls: options.ca ? { ca: options.ca } : {},
          foreignTls: options.ca ? { ca: [...rootCertificates, options.ca.toString()] } : {},
          maxSockets: agentOptions.maxSockets,
          timeoutMs: this.timeoutMs,
        })
      : undefined;
  }

  /**
   * Sends one request to the registry (path starts with "/"). Redirects of GET/HEAD are followed
   * here, up to 5; Authorization goes only to the registry's own origin. Any status is returned:
   * the caller decides what a 404 means.
   */
  async request(method: string, path: string, init: RequestInit = {}): Promise<RemoteResponse> {
    const response = await this.requestOnce(method, path, init);
    if (!this.options.tokenWhenDenied || init.authorization !== undefined || !this.authorization) return response;
    if (response.status !== 401 && response.status !== 403) return response;
    const replayable = init.body === undefined || typeof init.body === "string" || init.body instanceof Uint8Array;
    const repository = repositoryOf(path);
    if (!replayable || !repository) return response;
    // A registry may know of a permission change at its token server (which reads fresh)
    // before its cached view of Basic credentials does: ask it for a token and try again.
    const challenge = response.headers.get("www-authenticate") ?? "";
    response.body.resume();
    const token = await this.bearerFor(repository, actionsFor(method), /service="([^"]*)"/.exec(challenge)?.[1]);
    if (!token) return this.requestOnce(method, path, init);
    return this.requestOnce(method, path, { ...init, authorization: `Bearer ${token}` });
  }

  /** A token from the registry's /oauth2/token for one repository scope, cached until shortly before it expires. */
  private async bearerFor(repository: string, actions: string, service: string | undefined): Promise<string | undefined> {
    const scope = `repository:${repository}:${actions}`;
    const cached = this.tokens.get(scope);
    if (cached && cached.until > Date.now()) return cached.token;
    const query = new URLSearchParams({ service: service ?? this.options.endpoint, scope });
    const answer = await this.requestOnce("GET", `/oauth2/token?${query}`, { headers: { Accept: "application/json" } });
    if (answer.status !== 200) {
      answer.body.resume();
      return undefined;
    }
    const body = await answer.json<{ token?: string; access_token?: string; expires_in?: number }>();
    const token = body.token ?? body.access_token;
    if (!token) return undefined;
    if (this.tokens.size > 1000) this.tokens.clear();
    this.tokens.set(scope, { token, until: Date.now() + Math.max((body.expires_in ?? 60) - 10, 5) * 1000 });
    return token;
  }

  private async requestOnce(method: string, path: string, init: RequestInit): Promise<RemoteResponse> {
    const authorization = init.authorization === undefined ? this.authorization : init.authorization;
    const follow = method === "GET" || method === "HEAD";
    let url = new URL(path, this.origin);
    for (let redirects = 0; ; redirects++) {
      const sameOrigin = url.origin === this.origin;
      const headers: Record<string, string> = { "User-Agent": this.options.userAgent, ...init.headers };
      if (authorization !== null && sameOrigin) headers["Authorization"] = authorization;
      const response = await this.send(method, url, headers, init.body, sameOrigin, redirects, init.intoBuffers === true);
      const location = response.headers.get("location");
      if (!follow || !REDIRECTS.has(response.status) || !location) return response;
      response.body.resume(); // drain the (tiny) redirect body so the socket returns to the pool
      if (redirects >= MAX_REDIRECTS) {
        throw new RemoteError(response.status, `${method} ${path}: more than ${MAX_REDIRECTS} redirects`);
      }
      url = new URL(location, url);
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new RemoteError(response.status, `${method} ${path}: redirect to unsupported scheme ${url.protocol}`);
      }
    }
  }

  /**
   * A JSON call to the registry: sends `body` as JSON when given, returns the parsed answer
   * (undefined for 204), throws RemoteError for any non-2xx answer.
   */
  async json<T>(method: string, path: string, body?: unknown, init: Omit<RequestInit, "body"> = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...init.headers };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await this.request(method, path, {
      ...init,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (response.status < 200 || response.status >= 300) throw await RemoteError.fromResponse(response, `${method} ${stripQuery(path)}`);
    if (response.status === 204) {
      response.body.resume();
      return undefined as T;
    }
    return response.json<T>();
  }

  /** Closes idle keep-alive sockets (on shutdown, so the process can exit). */
  close(): void {
    this.httpAgent.destroy();
    this.plain.close();
    this.registryHttpsAgent.destroy();
    this.foreignHttpsAgent.destroy();
    void this.proxied?.close();
  }

  private send(method: string, url: URL, headers: Record<string, string>, body: RequestInit["body"], sameOrigin: boolean, redirects: number, intoBuffers: boolean, retriedStale = false): Promise<RemoteResponse> {
    const isHttps = url.protocol === "https:";
    const agent = !isHttps ? this.httpAgent : sameOrigin ? this.registryHttpsAgent : this.foreignHttpsAgent;
    // Only origin + path ever appears in messages: the query may be a SAS signature.
    const what = `${method} ${url.origin}${url.pathname}`;
    const fixedBody = typeof body === "string" ? Buffer.from(body) : body instanceof Uint8Array ? body : undefined;
    const requestHeaders = { ...headers };
    if (fixedBody) requestHeaders["Content-Length"] = String(fixedBody.byteLength);
    const proxy = this.options.proxy ? proxyFor(this.options.proxy, url) : undefined;
    if (proxy && this.proxied) {
      const proxiedBody = fixedBody ?? (body as AsyncIterable<Uint8Array> | undefined);
      return this.proxied.send(proxy, { method, url, headers: requestHeaders, body: proxiedBody, sameOrigin, what, redirects });
    }
    if (intoBuffers && method === "GET" && !isHttps && body === undefined) {
      return this.plain.get(url, requestHeaders).then((answer) => {
        answer.body.on("error", () => {}); // as below: a reader attaches its own listener
        return { ...wrapResponse(answer.status, answer.headers, answer.body, url.origin, redirects), readInto: answer.readInto };
      });
    }

    return new Promise<RemoteResponse>((resolve, reject) => {
      let response: http.IncomingMessage | undefined;
      const request = (isHttps ? https : http).request(url, { method, headers: requestHeaders, agent, timeout: this.timeoutMs });

      request.on("timeout", () => {
        const error = new RemoteUnreachableError(`${what}: no data for ${this.timeoutMs} ms`, "ETIMEDOUT");
        // Destroy the response first so its reader sees our error, not a bare "aborted".
        response?.destroy(error);
        request.destroy(error);
      });
      request.on("error", (error: NodeJS.ErrnoException) => {
        if (response) return; // after the headers, errors surface through the body stream
        // A keep-alive socket the server had already closed: safe to retry once for GET/HEAD.
        if (request.reusedSocket && error.code === "ECONNRESET" && !retriedStale && (method === "GET" || method === "HEAD")) {
          this.send(method, url, headers, body, sameOrigin, redirects, intoBuffers, true).then(resolve, reject);
          return;
        }
        if (error instanceof RemoteUnreachableError) return reject(error);
        reject(new RemoteUnreachableError(`${what} failed: ${error.code ?? error.message}`, error.code, { cause: error }));
      });
      request.on("response", (incoming) => {
        response = incoming;
        // A body error nobody is listening to yet (a timeout before the caller starts reading)
        // must not crash the process; readers attach their own listeners and still see it.
        incoming.on("error", () => {});
        resolve(wrapResponse(incoming.statusCode ?? 0, incoming.headers, incoming, url.origin, redirects));
      });

      if (fixedBody) {
        request.end(fixedBody);
      } else if (body) {
        const source = Readable.from(body);
        source.on("error", (error) => request.destroy(error));
        // pipe() leaves the source paused when the request dies (a reset): end it, so the body's file is closed.
        request.on("close", () => source.destroy());
        source.pipe(request);
      } else {
        request.end();
      }
    });
  }
}

/**
 * A response (node:http's or undici's: their header objects have lower-case names and a
 * repeated header as an array; the body is a Readable) with its readers.
 */
export function wrapResponse(status: number, rawHeaders: Record<string, string | string[] | undefined>, incoming: Readable, origin: string, redirects: number, proxy?: string): RemoteResponse {
  const headers = new NodeHeaders(rawHeaders);
  const bytes = async (maxBytes?: number): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of incoming as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (maxBytes !== undefined && total > maxBytes) {
        incoming.destroy();
        throw new Error(`response body is larger than ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  };
  return {
    status,
    headers,
    body: incoming,
    origin,
    redirects,
    ...(proxy ? { proxy } : {}),
    bytes,
    text: async () => (await bytes()).toString("utf8"),
    json: async <T>() => JSON.parse((await bytes()).toString("utf8")) as T,
  };
}

function stripQuery(path: string): string {
  const question = path.indexOf("?");
  return question < 0 ? path : path.slice(0, question);
}

/** The repository a /v2/ path names ("/v2/<name>/manifests/<ref>", ".../blobs/...", ".../tags/list"). */
function repositoryOf(path: string): string | undefined {
  const match = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(stripQuery(path));
  return match?.[1];
}

function actionsFor(method: string): string {
  if (method === "GET" || method === "HEAD") return "pull";
  if (method === "DELETE") return "delete";
  return "pull,push";
}
