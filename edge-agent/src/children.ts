/**
 * Serves the sync protocol to this agent's own children, so a chain cloud -> A -> B works
 * like cloud -> A. A child's identity and settings belong to the cloud, so the control
 * calls (activate, configuration, status) are relayed to this agent's parent with the
 * child's own Basic credentials, and their answers are remembered for when the parent is
 * unreachable. Content is this agent's: the feed is read from the local change log, and
 * the child fetches through this agent's /v2/. Children are authenticated here first,
 * offline, with the sync-token verifiers the parent sent.
 */
import type { DockerGatewayAction } from "../../shared/domain/docker-scope.js";
import { readBody } from "../../shared/http/body.js";
import { MAX_INVENTORY_BODY_BYTES } from "../../shared/domain/connected-registry/index.js";
import type { Handler, HandlerRequest, HandlerResponse } from "../../shared/http/types.js";
import type { Authorizer } from "../../shared/auth/authorizer.js";
import type { ChangeLog } from "../../shared/registry/change-log.js";
import type { EdgeConfiguration } from "../../shared/sync/configuration.js";
import { encodeCursor } from "../../shared/sync/cursor.js";
import { readFeedPage } from "../../shared/sync/feed-page.js";
import { SyncError, syncJson } from "../../shared/sync/errors.js";
import { syncRouter } from "../../shared/sync/handler.js";
import { errorText, type Logger } from "./log.js";
import type { StateFile } from "./state.js";
import { RemoteUnreachableError, type RegistryHttpClient } from "../../shared/remote/http-client.js";

const MAX_FEED_PAGE = 1000;
/** How often a child's feed read also refreshes its configuration from the cloud. */
const CONFIGURATION_REFRESH_MS = 5_000;

export interface ChildrenServices {
  authorizer: Authorizer;
  changes: ChangeLog;
  client: RegistryHttpClient;
  state: StateFile;
  log: Logger;
}

export function createChildrenHandler(services: ChildrenServices): Handler {
  const { state, client, log } = services;
  const refreshedAt = new Map<string, number>();

  async function authorize(request: HandlerRequest, name: string, action: DockerGatewayAction): Promise<void> {
    const children = state.state.configuration?.children ?? [];
    if (!children.some((child) => child.name === name)) {
      throw new SyncError("NOT_FOUND", `connected registry "${name}" is not a child of this connected registry (${state.state.configuration?.name ?? "not activated yet"})`);
    }
    await services.authorizer.authorize(request, [{ type: "gateway", name, actions: [action] }]);
  }

  /** Forwards a control call to the parent with the child's credentials; undefined when the parent is unreachable. */
  async function relay(request: HandlerRequest, body?: Uint8Array): Promise<{ status: number; value: unknown } | undefined> {
    const authorization = request.headers.get("authorization");
    if (!authorization || !/^basic /i.test(authorization)) {
      throw new SyncError("INVALID_REQUEST", "a child's sync calls must use Basic credentials (the sync token's name and password): they are checked by the cloud registry too");
    }
    try {
      const response = await client.request(request.method, request.url.pathname + request.url.search, {
        authorization,
        headers: { Accept: "application/json", ...(body ? { "Content-Type": "application/json" } : {}) },
        ...(body ? { body } : {}),
      });
      const text = await response.text();
      return { status: response.status, value: text ? JSON.parse(text) : {} };
    } catch (error) {
      if (error instanceof RemoteUnreachableError) return undefined;
      throw error;
    }
  }

  function remember(name: string, change: (child: NonNullable<(typeof state.state.children)[string]>) => void): Promise<void> {
    return state.update((s) => {
      const child = (s.children[name] ??= {});
      change(child);
    });
  }

  function requireInstance(name: string, instanceId: string | null): void {
    const known = state.state.children[name];
    if (!known?.instanceId || known.instanceId !== instanceId) {
      throw new SyncError("NOT_ACTIVE", `connected registry "${name}" is not activated on this instance; activate it first`);
    }
  }

  async function activate(request: HandlerRequest, name: string): Promise<HandlerResponse> {
    await authorize(request, name, "config_write");
    const body = await readBody(request.body, 64 * 1024);
    const input = parseBody(body);
    const answer = await relay(request, body);
    const localCursor = encodeCursor(name, await services.changes.startingPosition(), Date.now());
    if (answer && answer.status === 200) {
      const value = answer.value as { configuration: EdgeConfiguration; activation: { activatedAt?: string } };
      await remember(name, (child) => {
        if (input.instanceId) child.instanceId = input.instanceId;
        child.configuration = value.configuration;
        if (value.activation?.activatedAt) child.activatedAt = value.activation.activatedAt;
        child.lastActivityTime = new Date().toISOString();
      });
      // The child reads this agent's feed, so its starting point is in this agent's log.
      return syncJson(200, { ...value, cursor: localCursor });
    }
    if (answer) return syncJson(answer.status, answer.value);
    // Parent unreachable: the same instance restarting may go on with what it had.
    const known = state.state.children[name];
    if (known?.instanceId && known.instanceId === input.instanceId && known.configuration) {
      log.warn("parent unreachable: a child re-activated from the remembered configuration", { child: name });
      return syncJson(200, { protocolVersion: "1", activation: { status: "Active", instanceId: known.instanceId, activatedAt: known.activatedAt }, configuration: known.configuration, cursor: localCursor });
    }
    return syncJson(503, { errors: [{ code: "UNAVAILABLE", message: "the parent of this connected registry is unreachable and this child was never activated here; retry later" }] });
  }

  async function configuration(request: HandlerRequest, name: string): Promise<HandlerResponse> {
    await authorize(request, name, "config_read");
    requireInstance(name, request.url.searchParams.get("instance"));
    const answer = await relay(request);
    if (answer?.status === 200) {
      await remember(name, (child) => {
        child.configuration = answer.value as EdgeConfiguration;
      });
    } else if (answer) return syncJson(answer.status, answer.value);
    const known = state.state.children[name]?.configuration;
    if (!known) throw new SyncError("NOT_ACTIVE", `connected registry "${name}" has no configuration here yet; activate it first`);
    return syncJson(200, known);
  }

  async function feed(request: HandlerRequest, name: string): Promise<HandlerResponse> {
    await authorize(request, name, "message_read");
    const params = request.url.searchParams;
    requireInstance(name, params.get("instance"));
    await refreshConfiguration(request, name);
    const known = state.state.children[name]?.configuration;
    if (!known) throw new SyncError("NOT_ACTIVE", `connected registry "${name}" has no configuration here yet; activate it first`);
    const limit = Math.min(Math.max(Number(params.get("limit") ?? MAX_FEED_PAGE) || MAX_FEED_PAGE, 1), MAX_FEED_PAGE);
    // This agent's own log: a restored copy of this data folder is caught here as in the cloud.
    const page = await readFeedPage(services.changes, {
      name,
      cursor: params.get("cursor") ?? "",
      messageTtl: known.messageTtl,
      repositories: known.repositories,
      limit,
      now: Date.now(),
    });
    return syncJson(200, { ...page, configurationVersion: known.version });
  }

  /** A child's settings change in the cloud; its feed reads bring them here (at most every 5 s). */
  async function refreshConfiguration(request: HandlerRequest, name: string): Promise<void> {
    if (Date.now() - (refreshedAt.get(name) ?? 0) < CONFIGURATION_REFRESH_MS) return;
    refreshedAt.set(name, Date.now());
    const instance = state.state.children[name]?.instanceId ?? "";
    try {
      const response = await client.request("GET", `/sync/v1/connectedRegistries/${name}/configuration?instance=${encodeURIComponent(instance)}`, {
        authorization: request.headers.get("authorization"),
        headers: { Accept: "application/json" },
      });
      const text = await response.text();
      if (response.status === 200) {
        await remember(name, (child) => {
          child.configuration = JSON.parse(text) as EdgeConfiguration;
        });
      } else if (response.status === 403) {
        // Deactivated (or another instance activated) in the cloud: this child must stop too.
        await remember(name, (child) => {
          delete child.instanceId;
        });
        log.warn("the cloud refused a child's configuration read; the child is no longer active here", { child: name, status: response.status });
      }
    } catch (error) {
      log.debug("could not refresh a child's configuration", { child: name, error: errorText(error) });
    }
  }

  async function status(request: HandlerRequest, name: string): Promise<HandlerResponse> {
    await authorize(request, name, "message_write");
    const body = await readBody(request.body, 64 * 1024);
    const input = parseBody(body);
    requireInstance(name, input.instanceId ?? null);
    await remember(name, (child) => {
      child.lastActivityTime = new Date().toISOString();
    });
    const answer = await relay(request, body);
    if (answer) return syncJson(answer.status, answer.value);
    return syncJson(200, { connectionState: "Online", lastActivityTime: state.state.children[name]?.lastActivityTime });
  }

  /** A child's inventory goes up as it came (the cloud checks it and keeps it); nothing is kept here. */
  async function inventory(request: HandlerRequest, name: string): Promise<HandlerResponse> {
    await authorize(request, name, "message_write");
    const body = await readBody(request.body, MAX_INVENTORY_BODY_BYTES);
    requireInstance(name, parseBody(body).instanceId ?? null);
    const answer = await relay(request, body);
    if (answer) return syncJson(answer.status, answer.value);
    return syncJson(503, { errors: [{ code: "PARENT_UNREACHABLE", message: "this connected registry cannot reach its parent now; send the inventory again when the status answer asks for it" }] });
  }

  return syncRouter(
    {
      activate: { POST: activate },
      configuration: { GET: configuration },
      feed: { GET: feed },
      status: { POST: status },
      inventory: { POST: inventory },
    },
    (message) => log.error(message),
  );
}

/** The one field this agent reads from a child's activate or status body; the parent checks the rest. */
function parseBody(body: Uint8Array): { instanceId?: string } {
  try {
    const value = JSON.parse(Buffer.from(body).toString("utf8") || "{}") as unknown;
    return typeof value === "object" && value !== null && typeof (value as { instanceId?: unknown }).instanceId === "string" ? { instanceId: (value as { instanceId: string }).instanceId } : {};
  } catch (error) {
    throw new SyncError("INVALID_REQUEST", `the body is not JSON: ${(error as Error).message}`);
  }
}
