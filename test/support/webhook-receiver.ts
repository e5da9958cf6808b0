/** A webhook receiver on node:http: records what arrives, and can fail (500) or be down (connection refused) on demand. */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedDelivery {
  headers: IncomingHttpHeaders;
  /** The request's path and query, as the receiver saw them. */
  url?: string;
  body: string;
  at: number;
}

export class WebhookReceiver {
  readonly received: ReceivedDelivery[] = [];
  /** What the receiver answers while up. */
  status = 200;
  /** Records each delivery and never answers it (a receiver that hangs). */
  hold = false;
  private server?: Server;
  private port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Starts (again, on the same port after stop()). */
  async start(): Promise<void> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        if (this.hold) {
          this.received.push({ headers: request.headers, url: request.url, body: Buffer.concat(chunks).toString("utf8"), at: performance.now() });
          return;
        }
        const status = this.status;
        if (status < 300) this.received.push({ headers: request.headers, url: request.url, body: Buffer.concat(chunks).toString("utf8"), at: performance.now() });
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Down: connections are refused until start(). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Events that arrived (Event Grid arrays flattened), in arrival order. */
  events(): Array<Record<string, any>> {
    return this.received.flatMap((delivery) => {
      const value = JSON.parse(delivery.body) as unknown;
      return (Array.isArray(value) ? value : [value]) as Array<Record<string, any>>;
    });
  }

  async waitFor(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`the receiver did not get what was expected in ${timeoutMs} ms; it got ${this.received.length} deliveries: ${this.received.map((d) => d.body.slice(0, 200)).join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
