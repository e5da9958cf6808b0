// Azure Functions registrations only: every route and timer comes from shared/http/routes.ts.
import { app } from "@azure/functions";
import { createCloudServices } from "../shared/composition.js";
import { loadConfig } from "../shared/config.js";
import { toAzureHttpHandler, toAzureTimerHandler } from "../shared/http/azure-adapter.js";
import { buildRoutes, buildTimers } from "../shared/http/routes.js";

app.setup({ enableHttpStream: true });

const services = createCloudServices(loadConfig(process.env));
for (const route of buildRoutes(services)) {
  app.http(route.name, { route: route.route, methods: route.methods, authLevel: "anonymous", handler: toAzureHttpHandler(route.handler) });
}
for (const timer of buildTimers(services)) {
  app.timer(timer.name, { schedule: timer.schedule, handler: toAzureTimerHandler(timer) });
}
