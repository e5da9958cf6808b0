/**
 * Serves the route and timer table on a plain Node HTTP server, for running and testing
 * without the Azure Functions host (which cannot be installed offline). It matches
 * Azure's route templates and converts requests; it implements no route itself.
 *
 * What it owns is the connection: routing on the path as sent, timeouts for clients that
 * stop sending, a cap on one address's uploads, and telling a client that went away from a
 * server that failed.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import { CronExpressionParser, type CronExpression } from "cron-parser";
import { correlated } from "../observability/correlation.js";
import { ClientGoneError, clientClosedResponse } from "./client-gone.js";
import { FileBody } from "./file-body.js";
import { idleBoundedBody } from "./idle-body.js";
import { NodeHeaders } from "./node-headers.js";
import { refuseWithJsonError } from "./json-error.js";
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from "./limits.js";
import type { HandlerRequest, HandlerResponse, HostRefusal, HttpMethod, RouteDefinition, TimerDefinition } from "./types.js";
import { UploadSlots } from "./upload-slots.js";

export interface LocalHost {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export type HostLogLevel = "info" | "warn" | "error";

export interface LocalHostOptions {
  host: string;
  port: number;
  /** Failures at error; a client that went away at info (closed) or warn (stalled). */
  log?: (message: string, level?: HostLogLevel) => void;
  /** PEM certificate chain and key: serve HTTPS (the edge agent); plain HTTP without. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Timeouts and the per-address upload cap; DEFAULT_HTTP_LIMITS without. */
  limits?: HttpLimits;
}

type Matcher = { route: RouteDefinition; pattern: RegExp };

export async function startLocalHost(routes: RouteDefinition[], timers: TimerDefinition[], options: LocalHostOptions): Promise<LocalHost> {
  const log = options.log ?? ((message: string) => console.log(message));
  const limits = options.limits ?? DEFAULT_HTTP_LIMITS;
  const uploads = new UploadSlots(limits.maxUploadsPerClient);
  // Every request runs under a correlation id, returned in X-Correlation-Id and in its log lines.
  const matchers: Matcher[] = routes.map((route) => ({ route: { ...route, handler: correlated(route.handler) }, pattern: templateToPattern(route.route) }));
  const listener: RequestListener = (req, res) => {
    void serve(req, res).catch((error: unknown) => {
      log(`local host: ${req.method} ${pathOf(req.url)} failed: ${error instanceof Error ? error.message : String(error)}`, "error");
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  };
  const serverOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // Node checks both timeouts on this interval (30 s by default), so a short timeout needs a short interval.
    connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs || Infinity) / 4)),
  };
  const server: Server = options.tls ? createTlsServer({ ...options.tls, ...serverOptions }, listener) : createServer(serverOptions, listener);
  // Longer than the 60 s idle timeout of the load balancers in front, so they close first.
  server.keepAliveTimeout = 65_000;

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    // Routed on the path as sent, before percent-decoding and dot segments: "/v2/%2e%2e/management/..."
    // stays with /v2/ (whose engine finds no resource there) and never reaches another surface.
    const rawPath = pathOf(req.url).replace(/^\/+/, "");
    const candidates = matchers.filter(({ pattern }) => pattern.test(rawPath));
    if (candidates.length === 0) {
      await send(req, res, method, refuseWithJsonError({ status: 404, code: "NotFound", message: `nothing is served at /${rawPath}`, headers: {} }));
      return;
    }
    const match = candidates.find(({ route }) => route.methods.includes(method as HttpMethod));
    if (!match) {
      const allow = [...new Set(candidates.flatMap(({ route }) => route.methods))].join(", ");
      await send(req, res, method, refuse(candidates[0]!.route, { status: 405, code: "MethodNotAllowed", message: `${method} is not supported on /${rawPath}`, headers: { Allow: allow } }));
      return;
    }

    if (match.route.uploads && carriesBody(req)) {
      const address = req.socket.remoteAddress ?? "unknown";
      const release = uploads.take(address);
      if (!release) {
        log(`local host: refused an upload from ${address}: it already has ${limits.maxUploadsPerClient} in flight`, "warn");
        const refusal: HostRefusal = {
          status: 429,
          code: "TooManyRequests",
          message: `this client already has ${limits.maxUploadsPerClient} uploads in flight; finish one, then retry`,
          // The body is not read: closing the connection is what ends it.
          headers: { "Retry-After": String(limits.retryAfterSeconds), Connection: "close" },
        };
        await send(req, res, method, refuse(match.route, refusal));
        return;
      }
      // Held until both the answer and the body are done: a handler may answer (401, 413) before the
      // body ends, and the rest is still read, bounded by the idle timeout, on this client's account.
      let open = 2;
      const settle = (): void => {
        if (--open === 0) release();
      };
      res.once("close", settle);
      req.once("close", settle);
    }

    const gone = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) gone.abort(new ClientGoneError("closed", "the client closed the connection"));
    });
    const body =
      method === "GET" || method === "HEAD"
        ? null
        : idleBoundedBody(req, limits.bodyIdleTimeoutMs, () => {
            const error = new ClientGoneError("idle", `the client sent no body bytes for ${limits.bodyIdleTimeoutMs / 1000} s`);
            gone.abort(error);
            req.destroy();
            return error;
          });
    const request: HandlerRequest = {
      method,
      url: new URL(req.url ?? "/", `${options.tls ? "https" : "http"}://${req.headers.host ?? "localhost"}`),
      // Every value of a repeated header, as WHATWG Headers built from the raw headers would give.
      headers: new NodeHeaders(req.headersDistinct),
      body,
      signal: gone.signal,
      ...(req.socket.remoteAddress ? { clientAddress: req.socket.remoteAddress } : {}),
    };

    let response: HandlerResponse;
    try {
      response = await match.route.handler(request);
    } catch (error) {
      if (!gone.signal.aborted) throw error;
      response = clientClosedResponse();
    }
    if (gone.signal.aborted) {
      if (response.body instanceof FileBody) void response.body.discard();
      logGone(gone.signal.reason as ClientGoneError, `${method} /${rawPath}`);
      return;
    }
    res.writeHead(response.status, response.headers ?? {});
    const responseBody = response.body;
    if (responseBody instanceof FileBody && method === "HEAD") void responseBody.discard();
    if (responseBody === undefined || method === "HEAD") res.end();
    else if (typeof responseBody === "string" || responseBody instanceof Uint8Array) res.end(responseBody);
    else await stream(responseBody, res, response, gone.signal, `${method} /${rawPath}`);
    // The handler may have answered before reading the body (an error); read the rest, still bounded.
    if (body && !req.readableEnded && !req.destroyed) void discard(body);
  }

  async function stream(body: AsyncIterable<Uint8Array>, res: ServerResponse, response: HandlerResponse, gone: AbortSignal, what: string): Promise<void> {
    const declared = Number(response.headers?.["Content-Length"] ?? response.headers?.["content-length"] ?? Number.NaN);
    let sent = 0;
    let ended = false;
    async function* counted(): AsyncIterable<Uint8Array> {
      for await (const chunk of body) {
        sent += chunk.byteLength;
        yield chunk;
      }
      ended = true;
    }
    try {
      if (body instanceof FileBody) {
        // A local file: written with reused buffers (file-body.ts says why), then ended.
        try {
          await body.writeTo(res, gone);
          ended = true;
        } finally {
          sent = body.bytesWritten;
        }
        res.end();
        await finished(res);
      } else {
        await pipeline(Readable.from(counted()), res);
      }
    } catch (error) {
      // A client that hangs up once it has every byte (before the source said it ended) is no error.
      if (ended || sent === declared) return;
      if (!gone.aborted) throw error;
      log(`local host: client closed the connection during the response to ${what}, after ${sent}${Number.isNaN(declared) ? "" : ` of ${declared}`} bytes`, "info");
    }
  }

  function logGone(reason: ClientGoneError, what: string): void {
    if (reason.reason === "idle") log(`local host: ${reason.message}: closed the connection of ${what}`, "warn");
    else log(`local host: client closed the connection: ${what}`, "info");
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const stopTimers = scheduleTimers(timers, log);
  const address = server.address() as AddressInfo;
  return {
    url: `${options.tls ? "https" : "http"}://${options.host}:${address.port}`,
    server,
    close: async () => {
      stopTimers();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The route's own error shape for a refusal, the management API's JSON error by default. */
function refuse(route: RouteDefinition, refusal: HostRefusal): HandlerResponse {
  return (route.refuse ?? refuseWithJsonError)(refusal);
}

async function send(req: IncomingMessage, res: ServerResponse, method: string, response: HandlerResponse): Promise<void> {
  res.writeHead(response.status, response.headers ?? {});
  res.end(method === "HEAD" ? undefined : (response.body as string | Uint8Array | undefined));
  req.resume();
}

/** A body is coming: it has a length, or is chunked. */
function carriesBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}

async function discard(body: AsyncIterable<Uint8Array>): Promise<void> {
  try {
    for await (const _chunk of body);
  } catch {
    // The client went away or stalled; nothing waits for these bytes.
  }
}

/** The path as sent: no query, not decoded, dot segments untouched (an absolute-form target loses its origin). */
function pathOf(target: string | undefined): string {
  const path = (target ?? "/").replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/, "");
  return path.split(/[?#]/, 1)[0] || "/";
}

/** Azure route template to a regex: literal segments, `{name}`, and a final optional `{*rest}`. */
export function templateToPattern(template: string): RegExp {
  const segments = template.split("/");
  let pattern = "";
  segments.forEach((segment, index) => {
    const separator = index === 0 ? "" : "/";
    if (/^\{\*\w+\}$/.test(segment)) {
      if (index !== segments.length - 1) throw new Error(`catch-all must be the last segment in ${template}`);
      pattern += `(?:${separator}.*)?`;
    } else if (/^\{\w+\}$/.test(segment)) {
      pattern += `${separator}[^/]+`;
    } else {
      pattern += separator + segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    }
  });
  return new RegExp(`^${pattern}$`);
}

/** Runs each timer on its NCRONTAB schedule, never two runs of one timer at once. */
function scheduleTimers(timers: TimerDefinition[], log: (message: string, level?: HostLogLevel) => void): () => void {
  const handles = new Map<string, NodeJS.Timeout>();
  let stopped = false;
  for (const timer of timers) {
    let schedule: CronExpression | undefined;
    const arm = (): void => {
      if (stopped) return;
      schedule ??= CronExpressionParser.parse(timer.schedule);
      const delay = Math.max(schedule.next().getTime() - Date.now(), 0);
      const handle = setTimeout(() => {
        timer
          .run((message) => log(message, "info"))
          .catch((error: unknown) => log(`timer ${timer.name} failed: ${error instanceof Error ? error.message : String(error)}`, "error"))
          .finally(arm);
      }, delay);
      handle.unref();
      handles.set(timer.name, handle);
    };
    // Parsed and armed just after start-up, not during it: the first cron parse loads the
    // time-zone and locale data (~25 ms), which can wait for whatever start-up sent first
    // (the edge agent's activation request) to be on its way.
    const first = setImmediate(arm);
    first.unref();
  }
  return () => {
    stopped = true;
    for (const handle of handles.values()) clearTimeout(handle);
  };
}
