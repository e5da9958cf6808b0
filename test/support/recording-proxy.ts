/**
 * A plain HTTP proxy in front of the registry that writes down every request a real client
 * sends and what it was answered, so an end-to-end test can say what the client did (did it
 * mount a layer or upload it? did it see a challenge?) rather than guess from the outcome.
 *
 * The client's Host header is passed on unchanged, so the registry names the proxy in its
 * challenges (realm and service) and the client's token requests come through it too.
 * Blob GETs that the registry redirects to storage go there directly, past the proxy.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedExchange {
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  status: number;
  /** The response's WWW-Authenticate header, when there was one. */
  challenge?: string;
}

export class RecordingProxy {
  readonly exchanges: RecordedExchange[] = [];

  private constructor(
    private readonly server: Server,
    /** host:port, as registry clients name it. */
    readonly host: string,
  ) {}

  static async start(target: string): Promise<RecordingProxy> {
    const upstream = new URL(target);
    let proxy: RecordingProxy | undefined;
    const server = createServer((req, res) => {
      const forwarded = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers as IncomingHttpHeaders },
        (answer) => {
          const challenge = answer.headers["www-authenticate"];
          proxy!.exchanges.push({
            method: req.method ?? "",
            path: req.url ?? "",
            status: answer.statusCode ?? 0,
            ...(typeof challenge === "string" ? { challenge } : {}),
          });
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forwarded.on("error", (error) => {
        res.writeHead(502).end(String(error));
      });
      req.pipe(forwarded);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new RecordingProxy(server, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  /** The exchanges recorded from now on (call before the client runs, read after). */
  mark(): () => RecordedExchange[] {
    const start = this.exchanges.length;
    return () => this.exchanges.slice(start);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
