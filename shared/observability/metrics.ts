/**
 * Prometheus metrics for the local host (`npm start`): requests by route, method and status,
 * and their durations. In Azure, Application Insights collects the same from the Functions host.
 */
import { Counter, Histogram, Registry } from "prom-client";
import type { RouteDefinition } from "../http/types.js";

export function withMetrics(routes: RouteDefinition[]): RouteDefinition[] {
  const registry = new Registry();
  const requests = new Counter({ name: "registry_http_requests_total", help: "HTTP requests, by route, method and status", labelNames: ["route", "method", "status"], registers: [registry] });
  const duration = new Histogram({
    name: "registry_http_request_duration_seconds",
    help: "Time to the response's headers, by route",
    labelNames: ["route"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const measured = routes.map(
    (route): RouteDefinition => ({
      ...route,
      handler: async (request) => {
        const stop = duration.startTimer({ route: route.name });
        const response = await route.handler(request);
        stop();
        requests.inc({ route: route.name, method: request.method, status: String(response.status) });
        return response;
      },
    }),
  );
  return [
    ...measured,
    {
      name: "metrics",
      route: "metrics",
      methods: ["GET"],
      handler: async () => ({ status: 200, headers: { "Content-Type": registry.contentType }, body: await registry.metrics() }),
    },
  ];
}
