/**
 * Prometheus metrics at /metrics: what an operator graphs and alerts on (requests, bytes
 * served, sync lag and errors). One registry per agent, so tests can run several agents
 * in one process.
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { Handler } from "../../shared/http/types.js";

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "connected_registry_http_requests_total", help: "HTTP requests served, by route and status", labelNames: ["route", "method", "status"], registers: [this.registry] });
  readonly bytesServed = new Counter({ name: "connected_registry_served_bytes_total", help: "Bytes of blobs and manifests sent to clients", registers: [this.registry] });
  readonly bytesFetched = new Counter({ name: "connected_registry_sync_fetched_bytes_total", help: "Bytes downloaded from the parent", registers: [this.registry] });
  readonly changesApplied = new Counter({ name: "connected_registry_sync_changes_applied_total", help: "Feed changes applied from the parent", registers: [this.registry] });
  readonly upstreamPushed = new Counter({ name: "connected_registry_upstream_changes_pushed_total", help: "Local changes pushed to the parent", registers: [this.registry] });
  readonly syncErrors = new Counter({ name: "connected_registry_sync_errors_total", help: "Failed sync attempts, by kind", labelNames: ["kind"], registers: [this.registry] });
  readonly lastSync = new Gauge({ name: "connected_registry_last_sync_timestamp_seconds", help: "When the last complete sync with the parent ended", registers: [this.registry] });
  readonly syncLag = new Gauge({
    name: "connected_registry_sync_lag_seconds",
    help: "Seconds since the last complete sync with the parent",
    registers: [this.registry],
    collect: () => {
      // Computed when scraped, so it grows while the parent is unreachable.
      const last = this.lastSyncMs;
      if (last !== undefined) this.syncLag.set((Date.now() - last) / 1000);
    },
  });
  private lastSyncMs: number | undefined;

  markSynced(at: number): void {
    this.lastSyncMs = at;
    this.lastSync.set(at / 1000);
  }

  /** Counts requests and the bytes of the bodies sent. */
  count(route: string, handler: Handler): Handler {
    return async (request) => {
      const response = await handler(request);
      this.requests.inc({ route, method: request.method, status: String(response.status) });
      const length = Number(response.headers?.["Content-Length"] ?? response.headers?.["content-length"] ?? 0);
      if (request.method === "GET" && response.status < 300 && length > 0) this.bytesServed.inc(length);
      return response;
    };
  }

  handler(): Handler {
    return async () => ({
      status: 200,
      headers: { "Content-Type": this.registry.contentType },
      body: await this.registry.metrics(),
    });
  }
}
