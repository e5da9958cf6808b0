/**
 * `connected-registry create|update|show|list|delete|deactivate|resync|get-settings|list-client-tokens`
 * and `connected-registry permissions update`, as `az acr connected-registry` (without
 * `--registry`: the endpoint is the registry).
 */
import { CONNECTED_REGISTRY_MODES, CONNECTION_STATES, LOGGING_LEVELS } from "../../shared/domain/connected-registry/names-and-modes.js";
import type { CommandSpec, FlagSpec } from "./args.js";
import { segment, type CommandContext } from "./context.js";
import { ApiError, UsageError } from "./errors.js";
import { renderScopeMap, type ScopeMap } from "./scope-maps.js";
import type { ConnectedRegistrySettings, ConnectedRegistryView } from "../../shared/admin/connected-registries.js";
import { renderDetails, renderTable } from "./table.js";
import { renderTokens, type Token } from "./tokens.js";
import { lagText, progressText, statusCodes, statusDetailLines, usageText } from "./edge-report.js";
import { filterFlags, filtersBody } from "./filters.js";

/** What the management API answers for a connected registry (its own view type, so the two cannot drift). */
export type ConnectedRegistry = ConnectedRegistryView;

const name: FlagSpec = { name: "name", short: "n", kind: "string", required: true, value: "NAME", help: "the connected registry (5-50 letters and digits)" };
const yes: FlagSpec = { name: "yes", short: "y", kind: "boolean", help: "accepted for az compatibility; nothing is asked" };
const schedule: FlagSpec = { name: "sync-schedule", short: "s", kind: "string", value: "CRON", help: 'when to sync: 5-field cron in UTC (default "* * * * *": continuously)' };
const window: FlagSpec = { name: "sync-window", short: "w", kind: "string", value: "DURATION", help: "how long each scheduled sync may run, ISO 8601 (PT1H to P7D); needed with a schedule that is not continuous" };
const ttl: FlagSpec = { name: "sync-message-ttl", kind: "string", value: "DURATION", help: "how long sync messages live, ISO 8601 (P1D to P90D, default P2D)" };
const gcEnabled: FlagSpec = { name: "gc-enabled", kind: "string", choices: ["true", "false"], value: "true|false", help: "whether the edge collects garbage (default true)" };
const gcSchedule: FlagSpec = { name: "gc-schedule", kind: "string", value: "CRON", help: 'when the edge collects garbage: 5-field cron in UTC (default "0 3 * * *")' };
const syncBandwidth: FlagSpec = { name: "sync-bandwidth", kind: "string", value: "RATE", help: 'the most the edge may use for syncing, such as 20Mbps or 5MB/s (default: no cap)' };
const logLevel: FlagSpec = { name: "log-level", kind: "string", choices: LOGGING_LEVELS, value: "LEVEL", help: `the edge agent's log level: ${LOGGING_LEVELS.join(", ")}` };

export function renderConnectedRegistry(registry: ConnectedRegistry): string {
  return renderDetails([
    ["Name", registry.name],
    ["Mode", registry.mode],
    ["Parent", registry.parent ?? "(the cloud registry)"],
    ["Connection state", registry.connectionState],
    ["Activation", registry.activation?.status],
    ["Repositories", registry.repositories],
    ["Sync token", registry.syncToken],
    ["Client tokens", registry.clientTokens],
    ["Sync schedule", registry.schedule],
    ["Sync window", registry.syncWindow],
    ["Message TTL", registry.messageTtl],
    ["Log level", registry.logging],
    ["Notifications", registry.notifications],
    ["Garbage collection", registry.garbageCollection ? `${registry.garbageCollection.enabled ? "enabled" : "disabled"}, schedule ${registry.garbageCollection.schedule}` : null],
    ["Sync bandwidth", registry.syncBandwidth ?? "no cap"],
    ["Repository filters", (registry.repositoryFilters ?? []).map((filter) => JSON.stringify(filter))],
    ["Resync requested", registry.resync],
    ["Login server", registry.loginServer ? `${registry.loginServer.tls ? "https" : "http"}://${registry.loginServer.host}` : null],
    ["Version", registry.version],
    ["Last activity", registry.lastActivityTime],
    ["Last sync", registry.lastSyncTime],
    ["Last sync trigger", registry.lastSyncTrigger],
    ["Sync progress", progressText(registry)],
    ["Usage", usageText(registry)],
    ["Lag", lagText(registry)],
    ["Status codes", statusCodes(registry)],
    ["Status details", statusDetailLines(registry)],
    ["Created", registry.creationDate],
    ["Updated", registry.updatedAt],
  ]);
}

export function renderConnectedRegistries(registries: ConnectedRegistry[]): string {
  return renderTable(
    [
      { header: "NAME", value: (r: ConnectedRegistry) => r.name },
      { header: "MODE", value: (r) => r.mode },
      { header: "CONNECTION STATE", value: (r) => r.connectionState },
      { header: "ACTIVATION", value: (r) => r.activation?.status },
      { header: "PARENT", value: (r) => r.parent },
      { header: "REPOSITORIES", value: (r) => r.repositories },
      { header: "LAST SYNC", value: (r) => r.lastSyncTime },
      { header: "TRIGGER", value: (r) => r.lastSyncTrigger },
      { header: "PROGRESS", value: (r) => (r.syncProgress ? `${r.syncProgress.objectsDone}/${r.syncProgress.objectsTotal}` : null) },
      { header: "USAGE", value: (r) => usageText(r) },
      { header: "LAG", value: (r) => lagText(r) },
      { header: "CODES", value: (r) => statusCodes(r) },
    ],
    registries,
  );
}

/** The update body from flags; `--sync-window ""` removes the window (null). */
async function updateBody(ctx: CommandContext, current: () => Promise<ConnectedRegistry>): Promise<Record<string, unknown>> {
  const f = ctx.flags;
  const body: Record<string, unknown> = {};
  const scheduleValue = f.string("sync-schedule");
  if (scheduleValue !== undefined) body.schedule = scheduleValue;
  const windowValue = f.string("sync-window");
  if (windowValue !== undefined) body.syncWindow = windowValue === "" ? null : windowValue;
  const ttlValue = f.string("sync-message-ttl");
  if (ttlValue !== undefined) body.messageTtl = ttlValue;
  const add = f.list("add-client-tokens");
  if (add) body.addClientTokens = add;
  const remove = f.list("remove-client-tokens");
  if (remove) body.removeClientTokens = remove;
  const level = f.string("log-level");
  if (level !== undefined) body.logging = level;
  Object.assign(body, maintenanceBody(ctx), await filtersBody(ctx, current));
  const addNotifications = f.list("add-notifications");
  const removeNotifications = f.list("remove-notifications");
  if (Object.keys(body).length === 0 && !addNotifications && !removeNotifications) {
    throw new UsageError(
      "nothing to update: give --sync-schedule, --sync-window, --sync-message-ttl, --add-client-tokens, --remove-client-tokens, --log-level, --add-notifications, --remove-notifications, --gc-enabled, --gc-schedule, --sync-bandwidth, --filters or --filter",
      f.command,
    );
  }
  if (!addNotifications && !removeNotifications) return Promise.resolve(body);
  // The API replaces the whole list; az adds and removes, so read it first.
  return current().then((registry) => {
    const kept = registry.notifications.filter((n) => !(removeNotifications ?? []).includes(n));
    return { ...body, notifications: [...kept, ...(addNotifications ?? []).filter((n) => !kept.includes(n))] };
  });
}

/** --gc-enabled, --gc-schedule and --sync-bandwidth as the API's fields; `--sync-bandwidth ""` (or none) removes the cap. */
function maintenanceBody(ctx: CommandContext): Record<string, unknown> {
  const f = ctx.flags;
  const body: Record<string, unknown> = {};
  const enabled = f.string("gc-enabled");
  const gcScheduleValue = f.string("gc-schedule");
  if (enabled !== undefined || gcScheduleValue !== undefined) {
    body.garbageCollection = { ...(enabled !== undefined ? { enabled: enabled === "true" } : {}), ...(gcScheduleValue !== undefined ? { schedule: gcScheduleValue } : {}) };
  }
  const bandwidth = f.string("sync-bandwidth");
  if (bandwidth !== undefined) body.syncBandwidth = bandwidth.trim() === "" || bandwidth.trim().toLowerCase() === "none" ? null : bandwidth;
  return body;
}

export const connectedRegistryCommands: CommandSpec<CommandContext>[] = [
  {
    path: ["connected-registry", "create"],
    summary: "Create a connected registry with its sync token and scope map (or on an existing --sync-token).",
    credentials: "admin",
    flags: [
      name,
      { name: "repository", kind: "list", value: "REPOSITORY...", help: "the repositories it syncs; repeatable" },
      { name: "sync-token", kind: "string", value: "TOKEN", help: "instead of --repository: an existing token whose scope map names the repositories" },
      { name: "mode", short: "m", kind: "string", choices: CONNECTED_REGISTRY_MODES, value: "MODE", help: "ReadWrite (default) or ReadOnly" },
      { name: "parent", short: "p", kind: "string", value: "CONNECTED_REGISTRY", help: "the parent connected registry (default: the cloud registry)" },
      schedule,
      window,
      ttl,
      { name: "client-tokens", kind: "list", value: "TOKEN...", help: "tokens clients use at the edge (at most 20)" },
      logLevel,
      { name: "notifications", kind: "list", value: "REPOSITORY:TAG:ACTION...", help: "e.g. hello-world:latest:push" },
      gcEnabled,
      gcSchedule,
      syncBandwidth,
      ...filterFlags,
    ],
    examples: ["registry-admin connected-registry create --name factory1 --mode ReadOnly --repository hello-world --client-tokens shopfloor"],
    run: async (ctx) => {
      const f = ctx.flags;
      const repositories = f.list("repository");
      const syncToken = f.string("sync-token");
      if ((repositories === undefined) === (syncToken === undefined)) throw new UsageError("give either --repository or --sync-token (not both)", f.command);
      const optional: Array<[string, unknown]> = [
        ["mode", f.string("mode")],
        ["parent", f.string("parent")],
        ["repositories", repositories],
        ["syncToken", syncToken],
        ["schedule", f.string("sync-schedule")],
        ["syncWindow", f.string("sync-window")],
        ["messageTtl", f.string("sync-message-ttl")],
        ["clientTokens", f.list("client-tokens")],
        ["logging", f.string("log-level")],
        ["notifications", f.list("notifications")],
      ];
      const body = { name: f.requiredString("name"), ...Object.fromEntries(optional.filter(([, value]) => value !== undefined)), ...maintenanceBody(ctx), ...(await filtersBody(ctx)) };
      const created = await ctx.management().call<ConnectedRegistry>("POST", "connectedRegistries", body);
      ctx.print(created, () => renderConnectedRegistry(created));
    },
  },
  {
    path: ["connected-registry", "update"],
    summary: "Change a connected registry's sync settings, client tokens, log level or notifications.",
    credentials: "admin",
    flags: [
      name,
      schedule,
      { ...window, help: `${window.help}; "" removes it` },
      ttl,
      { name: "add-client-tokens", kind: "list", value: "TOKEN...", help: "tokens to add" },
      { name: "remove-client-tokens", kind: "list", value: "TOKEN...", help: "tokens to remove" },
      logLevel,
      { name: "add-notifications", kind: "list", value: "REPOSITORY:TAG:ACTION...", help: "notifications to add" },
      { name: "remove-notifications", kind: "list", value: "REPOSITORY:TAG:ACTION...", help: "notifications to remove" },
      gcEnabled,
      gcSchedule,
      { ...syncBandwidth, help: `${syncBandwidth.help}; "" or none removes the cap` },
      ...filterFlags,
    ],
    examples: ['registry-admin connected-registry update --name factory1 --sync-schedule "0 2 * * *" --sync-window PT4H --add-client-tokens line2'],
    run: async (ctx) => {
      const api = ctx.management();
      const path = `connectedRegistries/${segment(ctx.flags.requiredString("name"))}`;
      const body = await updateBody(ctx, () => api.call<ConnectedRegistry>("GET", path));
      const updated = await api.call<ConnectedRegistry>("PATCH", path, body);
      ctx.print(updated, () => renderConnectedRegistry(updated));
    },
  },
  {
    path: ["connected-registry", "show"],
    summary: "Show a connected registry, its state and its last sync.",
    credentials: "admin",
    flags: [name],
    run: async (ctx) => {
      const registry = await ctx.management().call<ConnectedRegistry>("GET", `connectedRegistries/${segment(ctx.flags.requiredString("name"))}`);
      ctx.print(registry, () => renderConnectedRegistry(registry));
    },
  },
  {
    path: ["connected-registry", "list"],
    summary: "List the connected registries; --parent: all its descendants, with --no-children its children only.",
    credentials: "admin",
    flags: [
      { name: "parent", short: "p", kind: "string", value: "CONNECTED_REGISTRY", help: "only the descendants of this one (as az: children, their children, ...)" },
      { name: "no-children", kind: "boolean", help: "only direct children: of --parent, or of the cloud registry without it" },
      { name: "mode", short: "m", kind: "string", choices: CONNECTED_REGISTRY_MODES, value: "MODE", help: "only ReadWrite or ReadOnly ones" },
      { name: "connection-state", kind: "string", choices: CONNECTION_STATES, value: "STATE", help: `only those in this state: ${CONNECTION_STATES.join(", ")}` },
    ],
    run: async (ctx) => {
      const query = new URLSearchParams();
      for (const [flag, parameter] of [["mode", "mode"], ["connection-state", "connectionState"]] as const) {
        const value = ctx.flags.string(flag);
        if (value !== undefined) query.set(parameter, value);
      }
      const api = ctx.management();
      const parent = ctx.flags.string("parent");
      const noChildren = ctx.flags.boolean("no-children");
      // The hierarchy needs every registry, whatever the other filters keep.
      const all = parent !== undefined || noChildren ? (await api.call<{ value: ConnectedRegistry[] }>("GET", "connectedRegistries")).value : undefined;
      if (parent !== undefined && !all!.some((r) => r.name === parent)) throw new ApiError(404, "NotFound", `connected registry "${parent}" does not exist`);
      const answer = await api.call<{ value: ConnectedRegistry[] }>("GET", `connectedRegistries${query.size > 0 ? `?${query}` : ""}`);
      if (all) {
        const keep = new Set(noChildren ? all.filter((r) => (r.parent ?? null) === (parent ?? null)).map((r) => r.name) : descendants(all, parent!));
        answer.value = answer.value.filter((r) => keep.has(r.name));
      }
      ctx.print(answer, () => renderConnectedRegistries(answer.value));
    },
  },
  {
    path: ["connected-registry", "delete"],
    summary: "Delete a connected registry (refused while it has children); --cleanup also deletes its sync token and scope map.",
    credentials: "admin",
    flags: [name, { name: "cleanup", kind: "boolean", help: "also delete the sync token and its scope map, and strip its actions from its ancestors" }, yes],
    run: async (ctx) => {
      await ctx.management().call("DELETE", `connectedRegistries/${segment(ctx.flags.requiredString("name"))}${ctx.flags.boolean("cleanup") ? "?cleanup=true" : ""}`);
    },
  },
  {
    path: ["connected-registry", "deactivate"],
    summary: "Deactivate a connected registry, so that a new edge agent can activate it.",
    credentials: "admin",
    flags: [name, yes],
    run: async (ctx) => {
      const registry = await ctx.management().call<ConnectedRegistry>("POST", `connectedRegistries/${segment(ctx.flags.requiredString("name"))}/deactivate`);
      ctx.print(registry, () => renderConnectedRegistry(registry));
    },
  },
  {
    path: ["connected-registry", "resync"],
    summary: "Make the edge run a full sync (walk every repository) at its next contact.",
    credentials: "admin",
    flags: [name, yes],
    examples: ["registry-admin connected-registry resync --name factory1"],
    run: async (ctx) => {
      const registry = await ctx.management().call<ConnectedRegistry>("POST", `connectedRegistries/${segment(ctx.flags.requiredString("name"))}/resync`);
      ctx.print(registry, () => renderConnectedRegistry(registry));
    },
  },
  {
    path: ["connected-registry", "get-settings"],
    summary: "The connection string the edge agent starts with; --generate-password puts a new sync token password in it.",
    credentials: "admin",
    flags: [
      name,
      { name: "parent-protocol", kind: "string", choices: ["https", "http"], value: "PROTOCOL", help: "how the edge reaches its parent: https (default for the cloud) or http" },
      { name: "generate-password", kind: "string", choices: ["1", "2"], value: "1|2", help: "regenerate that password of the sync token (the old one stops working) and embed it" },
      yes,
    ],
    examples: ["registry-admin connected-registry get-settings --name factory1 --parent-protocol https --generate-password 1"],
    run: async (ctx) => {
      const protocol = ctx.flags.string("parent-protocol");
      const password = ctx.flags.string("generate-password");
      const settings = await ctx.management().call<ConnectedRegistrySettings>("POST", `connectedRegistries/${segment(ctx.flags.requiredString("name"))}/settings`, {
        ...(protocol ? { parentProtocol: protocol } : {}),
        ...(password ? { generatePassword: Number(password) } : {}),
      });
      // -o json prints ACR's keys too (ACR_REGISTRY_CONNECTION_STRING, ...), for scripts written for ACR.
      ctx.print(settings, () =>
        renderDetails([
          ["Connection string", settings.connectionString],
          ["Login server", settings.ACR_REGISTRY_LOGIN_SERVER ?? "(not reported yet: start the agent with --login-server HOST:PORT)"],
          ["Sync token", settings.SYNC_TOKEN_USER],
        ]),
      );
    },
  },
  {
    path: ["connected-registry", "list-client-tokens"],
    summary: "List the client tokens of a connected registry.",
    credentials: "admin",
    flags: [name],
    run: async (ctx) => {
      const answer = await ctx.management().call<{ value: Token[] }>("GET", `connectedRegistries/${segment(ctx.flags.requiredString("name"))}/clientTokens`);
      ctx.print(answer, () => renderTokens(answer.value));
    },
  },
  {
    path: ["connected-registry", "permissions", "show"],
    summary: "Show what a connected registry may sync: its sync token's scope map (repositories and gateway actions).",
    credentials: "admin",
    flags: [name],
    run: async (ctx) => {
      const api = ctx.management();
      const registry = await api.call<ConnectedRegistry>("GET", `connectedRegistries/${segment(ctx.flags.requiredString("name"))}`);
      const token = await api.call<Token>("GET", `tokens/${segment(registry.syncToken)}`);
      const scopeMap = await api.call<ScopeMap>("GET", `scopeMaps/${segment(token.scopeMap)}`);
      ctx.print(scopeMap, () => renderScopeMap(scopeMap));
    },
  },
  {
    path: ["connected-registry", "permissions", "update"],
    summary: "Add repositories to a connected registry and its ancestors, or remove them from it and its descendants.",
    credentials: "admin",
    flags: [
      name,
      { name: "add", kind: "list", value: "REPOSITORY...", help: "repositories to add" },
      { name: "remove", kind: "list", value: "REPOSITORY...", help: "repositories to remove" },
    ],
    examples: ["registry-admin connected-registry permissions update --name factory1 --add app/frontend --remove hello-world"],
    run: async (ctx) => {
      const add = ctx.flags.list("add");
      const remove = ctx.flags.list("remove");
      if (!add && !remove) throw new UsageError("nothing to update: give --add or --remove", ctx.flags.command);
      const registry = await ctx.management().call<ConnectedRegistry>("POST", `connectedRegistries/${segment(ctx.flags.requiredString("name"))}/permissions`, {
        ...(add ? { addRepositories: add } : {}),
        ...(remove ? { removeRepositories: remove } : {}),
      });
      ctx.print(registry, () => renderConnectedRegistry(registry));
    },
  },
];

/** Every registry below `ancestor`: its children, their children, ... */
function descendants(all: readonly ConnectedRegistry[], ancestor: string): string[] {
  const found: string[] = [];
  let frontier = [ancestor];
  while (frontier.length > 0) {
    const next = all.filter((r) => r.parent !== null && r.parent !== undefined && frontier.includes(r.parent)).map((r) => r.name).filter((n) => !found.includes(n));
    found.push(...next);
    frontier = next;
  }
  return found;
}
