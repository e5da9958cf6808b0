/**
 * The sync endpoints edge agents call (docs/sync-protocol.md): activate, configuration,
 * feed and status, under /sync/v1/connectedRegistries/<name>/. Each asks the authorizer
 * for the gateway action it needs, as the token server grants it to sync tokens.
 */
import { z } from "zod";
import type { Authorizer } from "../auth/authorizer.js";
import type { DockerGatewayAction } from "../domain/docker-scope.js";
import type { Handler, HandlerRequest, HandlerResponse } from "../http/types.js";
import { RegistryError } from "../domain/registry-errors.js";
import { errorResponse } from "../registry/respond.js";
import type { ChangeLog } from "../registry/change-log.js";
import type { ConnectedRegistryRecord, ConnectedRegistryStore } from "../store/connected-registry-store.js";
import type { IdentityStore } from "../store/identity-store.js";
import { retryOnConflict } from "../store/optimistic-update.js";
import { InvalidBodyError, readJson } from "../http/json-body.js";
import { edgeStatusReportSchema, withStatusHistory } from "../domain/connected-registry/index.js";
import type { EdgeInventoryStore } from "../store/edge-inventory-store.js";
import { acceptInventory } from "./inventory.js";
import { configurationOf } from "./configuration.js";
import { recordStatusReport } from "./status-report.js";
import type { EventSink } from "../events/outbox.js";
import { queueEdgeEvents } from "../events/edge-events.js";
import { encodeCursor } from "./cursor.js";
import { readFeedPage } from "./feed-page.js";
import { SyncError, syncErrorResponse, syncJson } from "./errors.js";
import { logError } from "../observability/log.js";
import { clientClosedResponse, clientGone } from "../http/client-gone.js";

export const PROTOCOL_VERSIONS = ["1"] as const;
const MAX_FEED_PAGE = 1000;
/**
 * How long a feed read may reuse the configuration version it computed (the version
 * covers client tokens and children, which live in other documents): a changed client
 * token reaches the edge within this bound plus its next feed read.
 */
const CONFIGURATION_VERSION_MS = 5_000;
const UPDATE_ATTEMPTS = 20;

const activateSchema = z.object({
  instanceId: z.string().min(8).max(100),
  protocolVersions: z.array(z.string()).min(1),
  capabilities: z.array(z.string()).default([]),
  acceptedMediaTypes: z.array(z.string()).default([]),
  agentVersion: z.string().max(100).optional(),
  loginServer: z.object({ host: z.string().min(1).max(300).regex(/^[A-Za-z0-9.:[\]-]+$/, "must be host or host:port"), tls: z.boolean() }).optional(),
});

/**
 * A feed read counts as the edge's activity (an edge reading its feed is online, whatever its
 * heartbeats), but an idle edge polls every few seconds: the record is written at most this often.
 */
export const FEED_ACTIVITY_WRITE_MS = 60_000;

export interface SyncServices {
  registries: ConnectedRegistryStore;
  identity: IdentityStore;
  changes: ChangeLog;
  authorizer: Authorizer;
  /** Where edges' notifications go (shared/events/); absent on an edge, which passes them up instead. */
  events?: EventSink;
  /** Where edges' inventories go ("where is it"); absent on an edge, which relays its children's instead. */
  inventories?: EdgeInventoryStore;
  now?: () => number;
}

export function createSyncHandler(services: SyncServices, log: (message: string) => void = logError): Handler {
  const now = services.now ?? Date.now;
  const configurationVersions = new Map<string, { version: string; until: number }>();

  async function configurationVersion(record: ConnectedRegistryRecord): Promise<string> {
    const cached = configurationVersions.get(record.name);
    if (cached && cached.until > now()) return cached.version;
    const { version } = await configurationOf(record, services.registries, services.identity);
    configurationVersions.set(record.name, { version, until: now() + CONFIGURATION_VERSION_MS });
    return version;
  }

  async function authorize(request: HandlerRequest, name: string, action: DockerGatewayAction): Promise<void> {
    await services.authorizer.authorize(request, [{ type: "gateway", name, actions: [action] }]);
  }

  async function requireRecord(name: string): Promise<ConnectedRegistryRecord> {
    const record = await services.registries.get(name);
    if (!record) throw new SyncError("NOT_FOUND", `connected registry "${name}" does not exist`);
    return record;
  }

  function requireActiveInstance(record: ConnectedRegistryRecord, instanceId: string | null): void {
    if (record.activation.status !== "Active") {
      throw new SyncError("NOT_ACTIVE", `connected registry "${record.name}" is not active (deactivated?); stop syncing and activate again`);
    }
    if (instanceId !== record.activation.instanceId) {
      throw new SyncError("NOT_ACTIVE", `another instance holds the activation of "${record.name}"; this one must stop`);
    }
  }

  /** Read-change-write on the record, retried when another request changed it meanwhile. */
  async function change(name: string, apply: (record: ConnectedRegistryRecord) => ConnectedRegistryRecord): Promise<ConnectedRegistryRecord> {
    const updated = await retryOnConflict(UPDATE_ATTEMPTS, async () => {
      const current = await requireRecord(name);
      return services.registries.replace(withStatusHistory(current, apply(current), new Date(now()).toISOString()));
    });
    if (updated) return updated;
    throw new SyncError("INVALID_REQUEST", `connected registry "${name}" is being changed by many requests at once; try again`);
  }

  async function activate(request: HandlerRequest, name: string): Promise<HandlerResponse> {
    await authorize(request, name, "config_write");
    const input = await readJson(request.body, activateSchema);
    const version = PROTOCOL_VERSIONS.find((v) => input.protocolVersions.includes(v));
    if (!version) {
      throw new SyncError("UNSUPPORTED_PROTOCOL", `no common protocol version: this registry speaks ${PROTOCOL_VERSIONS.join(", ")}`, {
        supported: PROTOCOL_VERSIONS,
      });
    }
    const timestamp = new Date(now()).toISOString();
    const record = await change(name, (current) => {
      if (current.activation.status === "Active" && current.activation.instanceId !== input.instanceId) {
        throw new SyncError(
          "ALREADY_ACTIVATED",
          `connected registry "${name}" is already active on another instance; deactivate it first if that instance is gone`,
        );
      }
      const activatedAt = current.activation.status === "Active" ? (current.activation.activatedAt ?? timestamp) : timestamp;
      return {
        ...current,
        activation: { status: "Active", instanceId: input.instanceId, activatedAt },
        connectionState: "Online",
        lastActivityTime: timestamp,
        ...(input.agentVersion ? { agentVersion: input.agentVersion } : {}),
        ...(input.loginServer ? { loginServer: input.loginServer } : {}),
      };
    });
    // Read together (an edge's activation waits for both). The full sync walks everything
    // after this anyway; the feed position only has to come before that walk, which it does.
    const [configuration, position] = await Promise.all([configurationOf(record, services.registries, services.identity), services.changes.startingPosition()]);
    const cursor = encodeCursor(name, position, now());
    return syncJson(200, {
      protocolVersion: version,
      activation: { status: "Active", instanceId: input.instanceId, activatedAt: record.activation.activatedAt },
      configuration,
      cursor,
    });
  }

  async function configuration(request: HandlerRequest, name: string): Promise<HandlerResponse> {
    await authorize(request, name, "config_read");
    const record = await requireRecord(name);
    requireActiveInstance(record, request.url.searchParams.get("instance"));
    return syncJson(200, await configurationOf(record, services.registries, services.identity));
  }

  async function feed(request: HandlerRequest, name: string): Promise<HandlerResponse> {
    await authorize(request, name, "message_read");
    const params = request.url.searchParams;
    const record = await requireRecord(name);
    requireActiveInstance(record, params.get("instance"));
    const limitParam = Number(params.get("limit") ?? MAX_FEED_PAGE);
    if (!Number.isInteger(limitParam) || limitParam < 1) throw new SyncError("INVALID_REQUEST", `limit must be a positive integer, got "${params.get("limit")}"`);
    const page = await readFeedPage(services.changes, {
      name,
      cursor: params.get("cursor") ?? "",
      messageTtl: record.messageTtl,
      repositories: record.repositories,
      limit: Math.min(limitParam, MAX_FEED_PAGE),
      now: now(),
    });
    await noteFeedActivity(record);
    return syncJson(200, { ...page, configurationVersion: await configurationVersion(record) });
  }

  /** Refreshes lastActivityTime (and brings an Offline edge back Online) at most every FEED_ACTIVITY_WRITE_MS. */
  async function noteFeedActivity(record: ConnectedRegistryRecord): Promise<void> {
    const lastHeard = record.lastActivityTime ? Date.parse(record.lastActivityTime) : 0;
    if (now() - lastHeard < FEED_ACTIVITY_WRITE_MS && record.connectionState !== "Offline") return;
    const timestamp = new Date(now()).toISOString();
    try {
      await change(record.name, (current) => ({
        ...current,
        lastActivityTime: timestamp,
        ...(current.connectionState === "Offline" ? { connectionState: "Online" as const } : {}),
      }));
    } catch (error) {
      // The page is the answer; a busy record only delays the activity mark to the next read.
      log(`sync: could not record feed activity of ${record.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async function status(request: HandlerRequest, name: string): Promise<HandlerResponse> {
    await authorize(request, name, "message_write");
    const input = await readJson(request.body, edgeStatusReportSchema);
    const timestamp = new Date(now()).toISOString();
    const record = await change(name, (current) => {
      requireActiveInstance(current, input.instanceId);
      return recordStatusReport(current, input, timestamp);
    });
    // Queued before the answer says so: an edge drops only what the parent accepted.
    const eventsAccepted = input.events && services.events ? await queueEdgeEvents(services.events, record, input.events) : undefined;
    // Only a parent that stores inventories asks for one, and only when the edge's differs from the stored one.
    const inventoryWanted = Boolean(services.inventories && input.inventoryDigest && input.inventoryDigest !== record.inventory?.digest);
    return syncJson(200, {
      connectionState: record.connectionState,
      lastActivityTime: record.lastActivityTime,
      ...(eventsAccepted !== undefined ? { eventsAccepted } : {}),
      ...(inventoryWanted ? { inventoryWanted } : {}),
    });
  }

  async function inventory(request: HandlerRequest, name: string): Promise<HandlerResponse> {
    await authorize(request, name, "message_write");
    if (!services.inventories) throw new SyncError("NOT_FOUND", "this parent does not take inventories");
    const store = services.inventories;
    const accepted = await acceptInventory(request.body, { store, now, check: async (instanceId) => requireActiveInstance(await requireRecord(name), instanceId), name }, (point) =>
      change(name, (current) => ({ ...current, inventory: point })),
    );
    return syncJson(200, accepted);
  }

  return syncRouter(
    {
      activate: { POST: activate },
      configuration: { GET: configuration },
      feed: { GET: feed },
      status: { POST: status },
      inventory: { POST: inventory },
    },
    log,
  );
}

export type SyncOperation = (request: HandlerRequest, name: string) => Promise<HandlerResponse>;

/**
 * Routes /sync/v1/connectedRegistries/<name>/<operation> and renders every error in the
 * protocol's shape: the cloud and an edge agent serving its children answer alike.
 */
export function syncRouter(operations: Record<string, Partial<Record<string, SyncOperation>>>, log: (message: string) => void): Handler {
  return async (request) => {
    const match = /^\/sync\/v1\/connectedRegistries\/([A-Za-z0-9]+)\/([a-z]+)$/.exec(request.url.pathname);
    try {
      const operation = match ? operations[match[2]!]?.[request.method] : undefined;
      if (!match || !operation) throw new SyncError("NOT_FOUND", `no sync endpoint ${request.method} ${request.url.pathname}`);
      return await operation(request, match[1]!);
    } catch (error) {
      // The host logs a client that went away, once and without a stack.
      if (clientGone(request)) return clientClosedResponse();
      if (error instanceof SyncError) return syncErrorResponse(error);
      if (error instanceof RegistryError) return errorResponse(error, request.method);
      if (error instanceof InvalidBodyError) return syncErrorResponse(new SyncError("INVALID_REQUEST", error.message));
      log(`sync: ${request.method} ${request.url.pathname} failed: ${error instanceof Error ? error.stack : String(error)}`);
      return syncJson(500, { errors: [{ code: "UNKNOWN", message: "internal error; the registry logged it" }] });
    }
  };
}

