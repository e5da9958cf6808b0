/**
 * The route and timer table: the one list that functions/ registers with Azure and the
 * local host serves. Add a route here and both get it.
 */
import { createAdminHandler } from "../admin/router.js";
import { createJwksHandler, createTokenHandler } from "../auth/token-server.js";
import type { CloudServices } from "../composition.js";
import { createSyncHandler } from "../sync/handler.js";
import { markSilentRegistriesOffline } from "../sync/health-sweep.js";
import { purgeStaleUploads } from "../registry/upload-cleanup.js";
import { collectGarbage } from "../registry/blob-gc.js";
import { CHANGE_RETENTION_SECONDS } from "../domain/retention.js";
import { createV2Handler } from "../registry/v2-handler.js";
import { createHealthHandler } from "../observability/health.js";
import { removeExpiredPasswords } from "../admin/password-expiry.js";
import { refuseV2 } from "../registry/respond.js";
import { createConsoleHandler } from "../console/static-files.js";
import { ALL_METHODS, type RouteDefinition, type TimerDefinition } from "./types.js";

export function buildRoutes(services: CloudServices): RouteDefinition[] {
  return [
    {
      name: "registry-v2",
      // Catch-all: repository names contain slashes, so the engine parses the path from its end.
      route: "v2/{*path}",
      // Every method: the engine answers 405 UNSUPPORTED naming what the resource allows.
      methods: ALL_METHODS,
      handler: createV2Handler(services.registry),
      refuse: refuseV2,
      uploads: true,
    },
    {
      name: "token-server",
      route: "oauth2/token",
      methods: ["GET", "POST"],
      handler: createTokenHandler(services.tokens.directory, services.tokens.login, services.tokens.issuer, services.tokens.options),
    },
    {
      name: "jwks",
      route: ".well-known/jwks.json",
      methods: ["GET"],
      handler: createJwksHandler(services.tokens.issuer.jwks),
    },
    {
      name: "sync",
      route: "sync/v1/connectedRegistries/{*path}",
      methods: ["GET", "POST"],
      handler: createSyncHandler(services.sync),
    },
    {
      name: "health",
      route: "health",
      methods: ["GET"],
      handler: createHealthHandler(services.health),
    },
    {
      name: "management",
      // Not "admin/": the Functions host reserves that prefix for its own API.
      route: "management/{*path}",
      // Every method: the management API answers 405 MethodNotAllowed naming what the resource allows.
      methods: ALL_METHODS,
      handler: createAdminHandler(services.admin),
    },
    {
      // The web console: static files only; it is a client of /management/ like the CLI.
      name: "console",
      route: "console/{*path}",
      methods: ["GET", "HEAD"],
      handler: createConsoleHandler(),
    },
  ];
}

export function buildTimers(services: CloudServices): TimerDefinition[] {
  const { metadata, blobs } = services.registry;
  return [
    {
      name: "purge-stale-uploads",
      schedule: "0 17 * * * *",
      run: async (log) => {
        await purgeStaleUploads(metadata, blobs, new Date(), log);
      },
    },
    {
      name: "connected-registry-health",
      schedule: "0 * * * * *",
      run: async (log) => {
        await markSilentRegistriesOffline(services.sync.registries, Date.now(), log);
      },
    },
    {
      name: "collect-garbage",
      schedule: "0 29 * * * *",
      run: async (log) => {
        const { index, inventory, graceMs, linkRefreshMs } = services.garbage;
        await collectGarbage(index, inventory, { graceMs, linkRefreshMs, limit: 5000, log });
      },
    },
    {
      // Imports are queued; this takes them up wherever the instance that started one went.
      name: "import-worker",
      schedule: "*/5 * * * * *",
      run: async () => {
        await services.admin.imports.drain();
      },
    },
    {
      // Webhook deliveries due (retries, and events an instance queued but did not send).
      name: "deliver-events",
      schedule: "*/5 * * * * *",
      run: async () => {
        await services.events.worker.drain();
      },
    },
    {
      // Webhook secrets sealed under a rotated-out signing key, re-sealed while the previous key still opens them; service URIs stored in clear, sealed.
      name: "reseal-webhook-secrets",
      schedule: "0 */10 * * * *",
      run: async () => {
        await services.admin.webhooks.resealRotated();
      },
    },
    {
      name: "expire-token-passwords",
      schedule: "0 7 * * * *",
      run: async (log) => {
        await removeExpiredPasswords(services.sync.identity, new Date(), 1000, log);
      },
    },
    {
      name: "expire-import-operations",
      schedule: "0 */10 * * * *",
      run: async () => {
        await services.admin.imports.expireStale(new Date(), 60 * 60 * 1000, 100);
      },
    },
    {
      name: "purge-change-log",
      schedule: "0 43 * * * *",
      run: async (log) => {
        const removed = await services.registry.changes.purge(CHANGE_RETENTION_SECONDS * 1000, 1000);
        log(`purge-change-log: removed ${removed} change-log entries older than ${CHANGE_RETENTION_SECONDS / 86400} days`);
      },
    },
  ];
}
