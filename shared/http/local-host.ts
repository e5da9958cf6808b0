/**
 * Serves the route and timer table on a plain Node HTTP server, for running and testing
 * without the Azure Functions host (which cannot be installed offline). It matches
 * Azure's route templates and converts requests; it implements no route itself.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CronExpressionParser } from "cron-parser";
import { correlated } from "../observability/correlation.js";
import type { HandlerRequest, HttpMethod, RouteDefinition, TimerDefinition } from "./types.js";

export interface LocalHost {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export interface LocalHostOptions {
  host: string;
  port: number;
  log?: (message: string) => void;
  /** PEM certificate chain and key: serve HTTPS (the edge agent); plain HTTP without. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

export async function startLocalHost(routes: RouteDefinition[], timers: TimerDefinition[], options: LocalHostOptions): Promise<LocalHost> {
  const log = options.log ?? ((message: string) => console.log(message));
  // Every request runs under a correlation id, returned in X-Correlation-Id and in its log lines.
  const matchers = routes.map((route) => ({ route: { ...route, handler: correlated(route.handler) }, pattern: templateToPattern(route.route) }));
  const listener: RequestListener = (req, res) => {
    void serve(req, res).catch((error: unknown) => {
      log(`local host: ${req.method} ${req.url} failed: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  };
  const server: Server = options.tls ? createTlsServer(options.tls, listener) : createServer(listener);
  // Blob uploads can take long; Node's default 5-minute request timeout would cut them.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `${options.tls ? "https" : "http"}://${req.headers.host ?? "localhost"}`);
    const method = (req.method ?? "GET").toUpperCase();
    const path = url.pathname.replace(/^\/+/, "");
    const match = matchers.find(({ route, pattern }) => pattern.test(path) && route.methods.includes(method as HttpMethod));
    if (!match) {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("no function serves this route\n");
      return;
    }
    const request: HandlerRequest = {
      method,
      url,
      headers: toHeaders(req),
      body: method === "GET" || method === "HEAD" ? null : req,
      ...(req.socket.remoteAddress ? { clientAddress: req.socket.remoteAddress } : {}),
    };
    const response = await match.route.handler(request);
    res.writeHead(response.status, response.headers ?? {});
    const body = response.body;
    if (body === undefined || method === "HEAD") {
      res.end();
      // The request body may be unread (an error before the handler consumed it).
      req.resume();
    } else if (typeof body === "string" || body instanceof Uint8Array) {
      res.end(body);
      req.resume();
    } else {
      await pipeline(Readable.from(body), res);
    }
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

function toHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  return headers;
}

/** Runs each timer on its NCRONTAB schedule, never two runs of one timer at once. */
function scheduleTimers(timers: TimerDefinition[], log: (message: string) => void): () => void {
  const handles = new Map<string, NodeJS.Timeout>();
  let stopped = false;
  for (const timer of timers) {
    const schedule = CronExpressionParser.parse(timer.schedule);
    const arm = (): void => {
      if (stopped) return;
      const delay = Math.max(schedule.next().getTime() - Date.now(), 0);
      const handle = setTimeout(() => {
        timer
          .run(log)
          .catch((error: unknown) => log(`timer ${timer.name} failed: ${error instanceof Error ? error.message : String(error)}`))
          .finally(arm);
      }, delay);
      handle.unref();
      handles.set(timer.name, handle);
    };
    arm();
  }
  return () => {
    stopped = true;
    for (const handle of handles.values()) clearTimeout(handle);
  };
}
