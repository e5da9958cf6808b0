/**
 * Sends the requests that must go through an outbound proxy, with undici's ProxyAgent: CONNECT
 * tunnels for https origins (TLS to the registry end to end, the registry's CA checked inside the
 * tunnel), absolute-URI forwarding for http origins (what curl and every forward proxy expect;
 * many proxies allow CONNECT only to port 443). Credentials in the proxy URL become
 * `Proxy-Authorization: Basic`.
 *
 * Refusals by the proxy itself become RemoteUnreachableError naming the proxy (scheme, host and
 * port, never its credentials): to the sync engine, a proxy that refuses is a parent it cannot
 * reach, so it keeps serving and retries with backoff while someone fixes the proxy.
 */
import { Readable } from "node:stream";
import type { Dispatcher, ProxyAgent } from "undici";
import { RemoteUnreachableError } from "./errors.js";
import { wrapResponse, type RemoteResponse } from "./http-client.js";
import { describeProxy } from "./proxy.js";

export interface ProxiedTransportOptions {
  /** TLS options for https origins reached through a tunnel (the registry's CA, or roots + CA). */
  registryTls: { ca?: string | Buffer | Array<string | Buffer> };
  foreignTls: { ca?: string | Buffer | Array<string | Buffer> };
  maxSockets: number;
  timeoutMs: number;
}

export interface ProxiedRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: Uint8Array | AsyncIterable<Uint8Array> | undefined;
  sameOrigin: boolean;
  /** `METHOD origin/path`, for messages (no query: it may be a SAS signature). */
  what: string;
  redirects: number;
}

/**
 * undici is loaded when a proxy is first used: most agents have none, and evaluating it (with
 * the node:http2 it pulls in) was a tenth of the edge agent's start-up. The edge bundle keeps it
 * in a file of its own that exports only ProxyAgent (scripts/bundle-edge.ts): hence the Pick.
 */
type Undici = Pick<typeof import("undici"), "ProxyAgent">;
let undici: Promise<Undici> | undefined;
const loadUndici = (): Promise<Undici> => (undici ??= import("undici"));

export class ProxiedTransport {
  /** One agent per proxy URL, origin scheme and trust: each keeps its own keep-alive pool. */
  private readonly agents = new Map<string, ProxyAgent>();

  constructor(private readonly options: ProxiedTransportOptions) {}

  async send(proxyUrl: string, request: ProxiedRequest): Promise<RemoteResponse> {
    const proxy = describeProxy(proxyUrl);
    const { method, url, what } = request;
    let answer: Dispatcher.ResponseData;
    try {
      answer = await (await this.agentFor(proxyUrl, url, request.sameOrigin)).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: method as Dispatcher.HttpMethod,
        headers: request.headers,
        body: request.body === undefined || request.body instanceof Uint8Array ? request.body : Readable.from(request.body),
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
      });
    } catch (error) {
      throw refusal(error, what, proxy, url);
    }
    const body = answer.body as unknown as Readable;
    // As on the direct path: a body error before anyone reads must not crash the process.
    body.on("error", () => {});
    return wrapResponse(answer.statusCode, answer.headers, body, url.origin, request.redirects, proxy);
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((agent) => agent.destroy()));
    this.agents.clear();
  }

  private async agentFor(proxyUrl: string, target: URL, sameOrigin: boolean): Promise<ProxyAgent> {
    const { ProxyAgent } = await loadUndici();
    const trust = target.protocol === "https:" ? (sameOrigin ? "registry" : "foreign") : "plain";
    const key = `${trust} ${proxyUrl}`;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new ProxyAgent({
        uri: proxyUrl,
        // http origins: forward with an absolute URI instead of a CONNECT tunnel.
        proxyTunnel: false,
        ...(trust === "registry" ? { requestTls: this.options.registryTls } : trust === "foreign" ? { requestTls: this.options.foreignTls } : {}),
        connections: this.options.maxSockets,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
      });
      this.agents.set(key, agent);
    }
    return agent;
  }
}

/** undici's errors for a request that never got an answer, as messages that name the proxy and say what to check. */
function refusal(error: unknown, what: string, proxy: string, target: URL): RemoteUnreachableError {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  // A forwarded request's 407 (undici turns it into an error rather than a response).
  if (/Proxy Authentication Required/.test(message)) {
    return new RemoteUnreachableError(`${what}: the proxy ${proxy} refused this agent's proxy credentials (407): check the user and password in HTTP_PROXY/HTTPS_PROXY`, "PROXY_AUTH_REQUIRED", { cause: error });
  }
  // A CONNECT the proxy did not answer with 200.
  const tunnel = /Proxy response \((\d+)\)/.exec(message);
  if (tunnel) {
    const status = Number(tunnel[1]);
    const hint = status === 407 || status === 401 ? ": wrong or missing proxy credentials in HTTPS_PROXY" : status === 403 ? ": the proxy's rules deny it" : "";
    return new RemoteUnreachableError(`${what}: the proxy ${proxy} refused a tunnel to ${target.host} (${status}${hint})`, "PROXY_REFUSED", { cause: error });
  }
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  const reason = cause ?? code ?? message;
  const timeout = code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT";
  return new RemoteUnreachableError(`${what} through the proxy ${proxy} failed: ${reason}`, timeout ? "ETIMEDOUT" : (cause ?? code), { cause: error });
}
