/**
 * The route and timer table: the one list that functions/ registers with Azure and the
 * local host serves. Add a route here and both get it.
 */
import type { CloudServices } from "../composition.js";
import { purgeStaleUploads } from "../registry/upload-cleanup.js";
import { createV2Handler } from "../registry/v2-handler.js";
import type { RouteDefinition, TimerDefinition } from "./types.js";

export function buildRoutes(services: CloudServices): RouteDefinition[] {
  return [
    {
      name: "registry-v2",
      // Catch-all: repository names contain slashes, so the engine parses the path from its end.
      route: "v2/{*path}",
      methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
      handler: createV2Handler(services.registry),
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
  ];
}
