/**
 * Management of connected registries: create (with its sync token and sync scope map,
 * or on an existing sync token), update, show, list, deactivate, delete, client tokens,
 * permissions and get-settings (the connection string). The rules themselves live in
 * domain/connected-registry; this file reads and writes the records they apply to.
 *
 * A registry's sync scope map is the scope map of its sync token, looked up when needed,
 * so re-pointing the token (a token update) is followed.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import {
  DEFAULT_CONNECTED_REGISTRY_MODE,
  DEFAULT_LOGGING_LEVEL,
  MAX_CLIENT_TOKENS,
  actionsForAncestors,
  actionsToStripFromAncestor,
  ancestorsOf,
  applyClientTokenChanges,
  changeGarbageCollection,
  checkSyncBandwidth,
  childrenOf,
  connectedRegistryModeSchema,
  connectedRegistryNameSchema,
  connectionStateSchema,
  descendantsOf,
  formatConnectionString,
  garbageCollectionOf,
  isContinuous,
  gatewayActionsFor,
  loggingLevelSchema,
  repositoryActionsFor,
  syncBandwidthOf,
  syncScopeMapActions,
  validateClientTokens,
  validateParent,
  validateRepositoryFilters,
  repositoryFilterSchema,
  type RepositoryFilter,
  validateSyncRepositories,
  validateSyncSettings,
  type GarbageCollectionSettings,
  type Hierarchy,
  type SyncScope,
  withStatusHistory,
  type StatusChange,
} from "../domain/connected-registry/index.js";
import { isSystemScopeMap, tokenReferenceSchema } from "../domain/identity-names.js";
import { parseScopeMapAction } from "../domain/scope-map-actions.js";
import type { ConnectedRegistryRecord, ConnectedRegistryStore } from "../store/connected-registry-store.js";
import { AlreadyExistsError, type IdentityStore } from "../store/identity-store.js";
import { retryOnConflict } from "../store/optimistic-update.js";
import type { EdgeInventoryStore } from "../store/edge-inventory-store.js";
import { AdminError, badRequest, conflict, notFound } from "./errors.js";
import type { ScopeMapService } from "./scope-maps.js";
import type { TokenReferences, TokenService, TokenView } from "./tokens.js";

/** "<repository>:<tag or digest>:<push|delete|*>"; a digest has a ":" of its own, so the action is what follows the last one. */
const notificationSchema = z.string().refine((text) => /^[^:\s]+(:[^\s]+)?:(push|delete|\*)$/.test(text), {
  error: (issue) => `"${String(issue.input)}" is not a notification: use <repository>:<tag or digest>:<push|delete|*>, such as hello-world:latest:push`,
});

/** Each field optional: what is left out keeps its current value (or the default, on create). */
const garbageCollectionInputSchema = z.object({ enabled: z.boolean().optional(), schedule: z.string().optional() }).strict();

export const createConnectedRegistrySchema = z
  .object({
    name: connectedRegistryNameSchema,
    mode: connectedRegistryModeSchema.default(DEFAULT_CONNECTED_REGISTRY_MODE),
    parent: connectedRegistryNameSchema.optional(),
    repositories: z.array(z.string()).min(1, "give at least one repository").optional(),
    syncToken: tokenReferenceSchema.optional(),
    schedule: z.string().optional(),
    syncWindow: z.string().optional(),
    messageTtl: z.string().optional(),
    clientTokens: z.array(tokenReferenceSchema).default([]),
    logging: loggingLevelSchema.default(DEFAULT_LOGGING_LEVEL),
    notifications: z.array(notificationSchema).default([]),
    garbageCollection: garbageCollectionInputSchema.optional(),
    /** Such as "20Mbps" or "5MB/s" (parseBandwidth); null or absent for no cap. */
    syncBandwidth: z.string().nullable().optional(),
    /** Tag and platform filters per repository in scope (repository-filters.ts). */
    repositoryFilters: z.array(repositoryFilterSchema).optional(),
  })
  .refine((input) => (input.repositories === undefined) !== (input.syncToken === undefined), {
    message:
      "give either repositories (a sync token and sync scope map are created for them) or syncToken (an existing token), not both and not neither",
  });

export const updateConnectedRegistrySchema = z.object({
  schedule: z.string().optional(),
  /** null removes the window (needed when the schedule becomes continuous). */
  syncWindow: z.string().nullable().optional(),
  messageTtl: z.string().optional(),
  addClientTokens: z.array(tokenReferenceSchema).optional(),
  removeClientTokens: z.array(tokenReferenceSchema).optional(),
  logging: loggingLevelSchema.optional(),
  notifications: z.array(notificationSchema).optional(),
  garbageCollection: garbageCollectionInputSchema.optional(),
  /** null removes the cap. */
  syncBandwidth: z.string().nullable().optional(),
  /** Replaces every filter; [] or null removes them. */
  repositoryFilters: z.array(repositoryFilterSchema).nullable().optional(),
});

export const listConnectedRegistriesSchema = z.object({
  parent: connectedRegistryNameSchema.optional(),
  mode: connectedRegistryModeSchema.optional(),
  connectionState: connectionStateSchema.optional(),
});

export const updatePermissionsSchema = z
  .object({ addRepositories: z.array(z.string()).default([]), removeRepositories: z.array(z.string()).default([]) })
  .refine((input) => input.addRepositories.length + input.removeRepositories.length > 0, { message: "give addRepositories or removeRepositories" });

export const getSettingsSchema = z.object({
  /** Default: https for the cloud; for an edge parent, what that edge reported. */
  parentProtocol: z.enum(["https", "http"]).optional(),
  generatePassword: z.union([z.literal(1), z.literal(2)]).optional(),
});

/**
 * What get-settings answers: our `connectionString`, and the same under ACR's keys, so scripts
 * written for `az acr connected-registry get-settings` carry over. The login server is where
 * clients reach the edge, as its agent reported it (`--login-server`); null until it has. The
 * password is null when none was generated (the connection string then holds a placeholder).
 */
export interface ConnectedRegistrySettings {
  connectionString: string;
  ACR_REGISTRY_CONNECTION_STRING: string;
  ACR_REGISTRY_LOGIN_SERVER: string | null;
  SYNC_TOKEN_USER: string;
  SYNC_TOKEN_PASSWORD: string | null;
}

export interface ConnectedRegistryView {
  name: string;
  mode: ConnectedRegistryRecord["mode"];
  parent: string | null;
  repositories: string[];
  syncToken: string;
  clientTokens: string[];
  schedule: string;
  syncWindow: string | null;
  messageTtl: string;
  logging: ConnectedRegistryRecord["logging"];
  notifications: string[];
  garbageCollection: GarbageCollectionSettings;
  syncBandwidth: string | null;
  repositoryFilters: RepositoryFilter[];
  /** The latest resync request id, or null when none was made. */
  resync: string | null;
  connectionState: ConnectedRegistryRecord["connectionState"];
  activation: { status: ConnectedRegistryRecord["activation"]["status"] };
  lastActivityTime: string | null;
  lastSyncTime: string | null;
  loginServer: { host: string; tls: boolean } | null;
  version: string | null;
  /** As the edge last reported them (null until it has). */
  syncProgress: ConnectedRegistryRecord["syncProgress"] | null;
  usage: ConnectedRegistryRecord["usage"] | null;
  lag: ConnectedRegistryRecord["lag"] | null;
  lastSyncTrigger: ConnectedRegistryRecord["lastSyncTrigger"] | null;
  statusDetails: ConnectedRegistryRecord["statusDetails"];
  creationDate: string;
  updatedAt: string;
}

/** Enough for 30 requests racing on one record: each round lets at least one through. */
const UPDATE_ATTEMPTS = 100;
/** Token names have at most 50 characters, and "-sync-token" takes 11 of them. */
const SYNC_TOKEN_SUFFIX = "-sync-token";
const SYNC_SCOPE_MAP_SUFFIX = "-sync-scope-map";
const MAX_NAME_WITH_REPOSITORIES = 50 - SYNC_TOKEN_SUFFIX.length;

export class ConnectedRegistryService {
  constructor(
    private readonly store: ConnectedRegistryStore,
    private readonly identity: IdentityStore,
    private readonly scopeMaps: ScopeMapService,
    private readonly tokens: TokenService,
    /** REGISTRY_LOGIN_SERVER: the parent gateway endpoint of the connection string, when set. */
    readonly loginServer: string | undefined,
    /** What each edge reported holding ("where is it"): removed with the connected registry. */
    private readonly inventories?: EdgeInventoryStore,
  ) {}

  async create(input: z.infer<typeof createConnectedRegistrySchema>): Promise<ConnectedRegistryView> {
    const settings = validateSyncSettings({ schedule: input.schedule, syncWindow: input.syncWindow, messageTtl: input.messageTtl });
    if (!settings.ok) throw badRequest(settings.message);
    const maintenance = checkMaintenance(undefined, input);
    const clientTokens = validateClientTokens(input.clientTokens);
    if (!clientTokens.ok) throw clientTokenError(clientTokens.message, input.clientTokens.length);
    await this.requireTokens(clientTokens.clientTokens, "client token");

    const records = await this.store.list();
    if (records.some((record) => record.name === input.name)) throw conflict(`connected registry "${input.name}" already exists`);
    const hierarchy = hierarchyOf(records);
    const parentCheck = validateParent(hierarchy, { name: input.name, mode: input.mode }, input.parent);
    if (!parentCheck.ok) throw badRequest(parentCheck.message);

    let repositories: string[];
    let syncToken: string;
    const created: { token?: string; scopeMap?: string } = {};
    if (input.repositories) {
      const checked = validateSyncRepositories(input.repositories);
      if (!checked.ok) throw badRequest(checked.message);
      if (input.name.length > MAX_NAME_WITH_REPOSITORIES) {
        throw badRequest(
          `with repositories, a connected registry name may have at most ${MAX_NAME_WITH_REPOSITORIES} characters: its sync token is named "<name>${SYNC_TOKEN_SUFFIX}" and token names have at most 50; or create a token and give it as syncToken`,
        );
      }
      repositories = checked.repositories;
      syncToken = `${input.name}${SYNC_TOKEN_SUFFIX}`;
      const scopeMap = `${input.name}${SYNC_SCOPE_MAP_SUFFIX}`;
      const actions = syncScopeMapActions({ name: input.name, mode: input.mode, repositories });
      await this.scopeMaps.create({ name: scopeMap, description: `Sync scope map of connected registry ${input.name}`, actions }, { generatedName: true });
      created.scopeMap = scopeMap;
      try {
        await this.tokens.create({ name: syncToken, scopeMap, status: "enabled" });
        created.token = syncToken;
      } catch (error) {
        await this.undo(created);
        throw error;
      }
    } else {
      syncToken = input.syncToken!;
      const scopeMap = await this.userScopeMapOfToken(syncToken, "sync token");
      repositories = repositoriesIn((await this.identity.getScopeMap(scopeMap))?.actions ?? []);
      // The handshake and feed need the gateway actions; an existing token gets them here.
      await this.scopeMaps.update(scopeMap, { addActions: gatewayActionsFor(input.name), removeActions: [] });
    }

    const now = new Date().toISOString();
    let record: ConnectedRegistryRecord;
    try {
      record = await this.store.create({
        name: input.name,
        mode: input.mode,
        ...(input.parent !== undefined ? { parent: input.parent } : {}),
        repositories,
        syncToken,
        syncTokenCreated: input.repositories !== undefined,
        clientTokens: clientTokens.clientTokens,
        schedule: settings.settings.schedule,
        ...(settings.settings.syncWindow !== undefined ? { syncWindow: settings.settings.syncWindow } : {}),
        messageTtl: settings.settings.messageTtl,
        logging: input.logging,
        notifications: input.notifications,
        ...filtersFor(input.repositoryFilters, repositories),
        garbageCollection: maintenance.garbageCollection,
        syncBandwidth: maintenance.syncBandwidth,
        connectionState: "Offline",
        activation: { status: "Inactive" },
        statusDetails: [],
        createdAt: now,
        updatedAt: now,
      });
    } catch (error) {
      await this.undo(created);
      if (error instanceof AlreadyExistsError) throw conflict(error.message);
      throw error;
    }

    // Each ancestor fetches on behalf of the new registry, so it needs the same actions.
    const ancestors = input.parent === undefined ? [] : [input.parent, ...ancestorsOf(hierarchy, input.parent)];
    const childActions = actionsForAncestors(scopeOf(record));
    for (const ancestor of ancestors) await this.changeSyncScopeMap(records.find((r) => r.name === ancestor), childActions, []);
    return view(record);
  }

  async update(name: string, input: z.infer<typeof updateConnectedRegistrySchema>): Promise<ConnectedRegistryView> {
    await this.requireTokens(input.addClientTokens ?? [], "client token");
    return view(
      await this.change(name, (current) => {
        const settings = validateSyncSettings({
          schedule: input.schedule ?? current.schedule,
          syncWindow: input.syncWindow === null || scheduleBecomesContinuous(input) ? undefined : (input.syncWindow ?? current.syncWindow),
          messageTtl: input.messageTtl ?? current.messageTtl,
        });
        if (!settings.ok) throw badRequest(settings.message);
        const maintenance = checkMaintenance(current, input);
        const clientTokens = applyClientTokenChanges(current.clientTokens, input);
        if (!clientTokens.ok) throw clientTokenError(clientTokens.message, new Set([...current.clientTokens, ...(input.addClientTokens ?? [])]).size);
        const { syncWindow: _oldWindow, ...rest } = current;
        return {
          ...rest,
          schedule: settings.settings.schedule,
          ...(settings.settings.syncWindow !== undefined ? { syncWindow: settings.settings.syncWindow } : {}),
          messageTtl: settings.settings.messageTtl,
          clientTokens: clientTokens.clientTokens,
          garbageCollection: maintenance.garbageCollection,
          syncBandwidth: maintenance.syncBandwidth,
          ...(input.logging !== undefined ? { logging: input.logging } : {}),
          ...(input.notifications !== undefined ? { notifications: [...new Set(input.notifications)] } : {}),
          ...(input.repositoryFilters !== undefined ? filtersFor(input.repositoryFilters ?? [], current.repositories) : {}),
        };
      }),
    );
  }

  async show(name: string): Promise<ConnectedRegistryView> {
    return view(await this.require(name));
  }

  /** The last status changes, newest first (docs/admin-api.md, "Status history"). */
  async statusHistory(name: string): Promise<{ value: StatusChange[] }> {
    return { value: [...((await this.require(name)).statusHistory ?? [])].reverse() };
  }

  async list(filter: z.infer<typeof listConnectedRegistriesSchema>): Promise<ConnectedRegistryView[]> {
    return (await this.store.list())
      .filter(
        (record) =>
          (filter.parent === undefined || record.parent === filter.parent) &&
          (filter.mode === undefined || record.mode === filter.mode) &&
          (filter.connectionState === undefined || record.connectionState === filter.connectionState),
      )
      .map(view);
  }

  /** Back to Inactive: the running edge is refused at its next sync call and must activate again. */
  async deactivate(name: string): Promise<ConnectedRegistryView> {
    return view(await this.change(name, (current) => ({ ...current, activation: { status: "Inactive" } })));
  }

  /**
   * Asks the edge for a full sync at its next contact: a new request id goes into its
   * configuration (`resync`), so the configuration version changes and the edge re-reads it.
   */
  async resync(name: string): Promise<ConnectedRegistryView> {
    // Time first, so ids sort in request order when someone reads them side by side with logs.
    const id = `${new Date().toISOString().replace(/[-:.]/g, "")}-${randomBytes(4).toString("hex")}`;
    return view(await this.change(name, (current) => ({ ...current, resync: id })));
  }

  async delete(name: string, options: { cleanup: boolean }): Promise<void> {
    const records = await this.store.list();
    const record = records.find((r) => r.name === name);
    if (!record) throw notFound(`connected registry "${name}" does not exist`);
    const hierarchy = hierarchyOf(records);
    const children = childrenOf(hierarchy, name);
    if (children.length > 0) {
      throw conflict(`connected registry "${name}" has children (${children.join(", ")}); delete them first`);
    }
    // Computed before the record goes, from the tree that still holds it.
    const strips = options.cleanup
      ? ancestorsOf(hierarchy, name).map((ancestor) => {
          const remaining = descendantsOf(hierarchy, ancestor)
            .filter((descendant) => descendant !== name)
            .map((descendant) => scopeOf(records.find((r) => r.name === descendant)!));
          const ancestorRecord = records.find((r) => r.name === ancestor);
          return { ancestorRecord, actions: ancestorRecord ? actionsToStripFromAncestor(scopeOf(ancestorRecord), scopeOf(record), remaining) : [] };
        })
      : [];
    if (!(await this.store.delete(name))) throw notFound(`connected registry "${name}" does not exist`);
    // Best effort, after the record: one left behind by a crash names a generation no record
    // does, so no lookup trusts it (shared/store/edge-inventory-store.ts).
    await this.inventories?.prune(name, undefined).catch(() => {});
    if (!options.cleanup) return;
    for (const { ancestorRecord, actions } of strips) await this.changeSyncScopeMap(ancestorRecord, [], actions);
    const token = await this.identity.getToken(record.syncToken);
    if (token) {
      await this.tokens.delete(record.syncToken);
      if (!isSystemScopeMap(token.scopeMap) && (await this.identity.tokensUsingScopeMap(token.scopeMap)).length === 0) {
        await this.identity.deleteScopeMap(token.scopeMap);
      }
    }
  }

  async listClientTokens(name: string): Promise<TokenView[]> {
    const record = await this.require(name);
    const views: TokenView[] = [];
    for (const token of record.clientTokens) {
      try {
        views.push(await this.tokens.show(token));
      } catch (error) {
        // A client token deleted out from under the list is simply not shown.
        if (!(error instanceof AdminError && error.status === 404)) throw error;
      }
    }
    return views;
  }

  /** Added repositories go to it and its ancestors; removed ones leave it and its descendants. */
  async updatePermissions(name: string, input: z.infer<typeof updatePermissionsSchema>): Promise<ConnectedRegistryView> {
    const added = validateSyncRepositories(input.addRepositories);
    if (!added.ok) throw badRequest(added.message);
    const removed = validateSyncRepositories(input.removeRepositories);
    if (!removed.ok) throw badRequest(removed.message);
    const both = added.repositories.filter((repository) => removed.repositories.includes(repository));
    if (both.length > 0) throw badRequest(`repository ${both.map((r) => `"${r}"`).join(", ")} cannot be both added and removed`);

    const records = await this.store.list();
    const record = records.find((r) => r.name === name);
    if (!record) throw notFound(`connected registry "${name}" does not exist`);
    const hierarchy = hierarchyOf(records);

    if (added.repositories.length > 0) {
      for (const target of [name, ...ancestorsOf(hierarchy, name)]) {
        const targetRecord = records.find((r) => r.name === target);
        if (!targetRecord) continue;
        // In the target's own mode: the repositories become its own, not only relayed.
        await this.changeSyncScopeMap(targetRecord, repositoryActionsFor(targetRecord.mode, added.repositories), []);
        await this.change(target, (current) => ({ ...current, repositories: [...new Set([...current.repositories, ...added.repositories])] }));
      }
    }
    if (removed.repositories.length > 0) {
      for (const target of [name, ...descendantsOf(hierarchy, name)]) {
        const targetRecord = records.find((r) => r.name === target);
        if (!targetRecord) continue;
        await this.changeSyncScopeMap(targetRecord, [], repositoryActionsFor(targetRecord.mode, removed.repositories));
        await this.change(target, (current) => ({ ...current, repositories: current.repositories.filter((r) => !removed.repositories.includes(r)) }));
      }
    }
    return this.show(name);
  }

  /**
   * The connection string. With `generatePassword`, that password of the sync token is
   * regenerated (the old one stops working) and embedded; without, a placeholder says how.
   */
  async getSettings(name: string, input: z.infer<typeof getSettingsSchema>, cloudEndpoint: string): Promise<ConnectedRegistrySettings> {
    const record = await this.require(name);
    // A child of an edge syncs from that edge, at the address its agent reported.
    let parent: { parentGatewayEndpoint: string; parentEndpointProtocol: "https" | "http" } = {
      parentGatewayEndpoint: cloudEndpoint,
      parentEndpointProtocol: input.parentProtocol ?? "https",
    };
    if (record.parent) {
      const edge = await this.require(record.parent);
      if (!edge.loginServer) {
        throw new AdminError(
          409,
          "ParentAddressUnknown",
          `the parent connected registry "${edge.name}" has not reported its address yet: start its agent with --login-server <host:port>, then get the settings again`,
        );
      }
      parent = { parentGatewayEndpoint: edge.loginServer.host, parentEndpointProtocol: input.parentProtocol ?? (edge.loginServer.tls ? "https" : "http") };
    }
    let password: string | undefined;
    if (input.generatePassword !== undefined) {
      const generated = await this.tokens.generateCredentials(record.syncToken, { name: input.generatePassword === 1 ? "password1" : "password2" });
      password = generated.passwords[0]?.value;
    }
    const connectionString = formatConnectionString({
      connectedRegistryName: record.name,
      syncTokenName: record.syncToken,
      syncTokenPassword: password,
      ...parent,
    });
    return {
      connectionString,
      ACR_REGISTRY_CONNECTION_STRING: connectionString,
      ACR_REGISTRY_LOGIN_SERVER: record.loginServer?.host ?? null,
      SYNC_TOKEN_USER: record.syncToken,
      SYNC_TOKEN_PASSWORD: password ?? null,
    };
  }

  /** Read, change, write back only if nobody wrote in between; else re-read and re-apply. */
  private async change(name: string, apply: (current: ConnectedRegistryRecord) => ConnectedRegistryRecord): Promise<ConnectedRegistryRecord> {
    const updated = await retryOnConflict(UPDATE_ATTEMPTS, async () => {
      const current = await this.require(name);
      const timestamp = new Date().toISOString();
      return this.store.replace(withStatusHistory(current, { ...apply(current), updatedAt: timestamp }, timestamp));
    });
    if (updated) return updated;
    throw new AdminError(409, "Conflict", `connected registry "${name}" is being changed by many requests at once; try again`);
  }

  private async changeSyncScopeMap(record: ConnectedRegistryRecord | undefined, addActions: string[], removeActions: string[]): Promise<void> {
    if (!record || addActions.length + removeActions.length === 0) return;
    const token = await this.identity.getToken(record.syncToken);
    if (!token || isSystemScopeMap(token.scopeMap)) return;
    await this.scopeMaps.update(token.scopeMap, { addActions, removeActions });
  }

  private async require(name: string): Promise<ConnectedRegistryRecord> {
    const record = await this.store.get(name);
    if (!record) throw notFound(`connected registry "${name}" does not exist`);
    return record;
  }

  private async requireTokens(names: readonly string[], role: string): Promise<void> {
    const missing: string[] = [];
    for (const token of new Set(names)) if (!(await this.identity.getToken(token))) missing.push(token);
    if (missing.length > 0) throw badRequest(`${role}${missing.length > 1 ? "s" : ""} ${missing.map((t) => `"${t}"`).join(", ")} do${missing.length > 1 ? "" : "es"} not exist; create ${missing.length > 1 ? "them" : "it"} first`);
  }

  /** The scope map of an existing sync token, which must be one we may add actions to. */
  private async userScopeMapOfToken(name: string, role: string): Promise<string> {
    const token = await this.identity.getToken(name);
    if (!token) throw badRequest(`${role} "${name}" does not exist; create it first, or give repositories instead`);
    if (isSystemScopeMap(token.scopeMap)) {
      throw badRequest(`${role} "${name}" uses the system scope map "${token.scopeMap}"; a sync token needs its own scope map, which gains the gateway actions`);
    }
    return token.scopeMap;
  }

  private async undo(created: { token?: string; scopeMap?: string }): Promise<void> {
    if (created.token) await this.identity.deleteToken(created.token);
    if (created.scopeMap) await this.identity.deleteScopeMap(created.scopeMap);
  }
}

/** The token-deletion hook: the connected registries that use a token as sync or client token. */
export function connectedRegistryTokenReferences(store: ConnectedRegistryStore): TokenReferences {
  return async (token) =>
    (await store.list()).filter((record) => record.syncToken === token || record.clientTokens.includes(token)).map((record) => record.name);
}

function hierarchyOf(records: readonly ConnectedRegistryRecord[]): Hierarchy {
  return new Map(records.map((record) => [record.name, { mode: record.mode, parent: record.parent }]));
}

function scopeOf(record: ConnectedRegistryRecord): SyncScope {
  return { name: record.name, mode: record.mode, repositories: record.repositories };
}

/** The repositories a scope map names with plain (not wildcard) repository actions. */
function repositoriesIn(actions: readonly string[]): string[] {
  const repositories = new Set<string>();
  for (const text of actions) {
    const parsed = parseScopeMapAction(text);
    if (parsed.ok && parsed.action.kind === "repository" && !parsed.action.pattern.includes("*")) repositories.add(parsed.action.pattern);
  }
  return [...repositories];
}

/** The client-token limit is a quota (409, naming it); any other client-token problem is a bad request. */
function clientTokenError(message: string, wouldHave: number): AdminError {
  return wouldHave > MAX_CLIENT_TOKENS ? new AdminError(409, "QuotaExceeded", `${message} (clientTokensPerConnectedRegistry)`) : badRequest(message);
}

/** The garbage-collection and bandwidth settings after a create or update, checked (400 naming the bad one). */
function checkMaintenance(
  current: ConnectedRegistryRecord | undefined,
  input: { garbageCollection?: { enabled?: boolean; schedule?: string } | undefined; syncBandwidth?: string | null | undefined },
): { garbageCollection: GarbageCollectionSettings; syncBandwidth: string | null } {
  const garbageCollection = changeGarbageCollection(current?.garbageCollection, input.garbageCollection ?? {});
  if (!garbageCollection.ok) throw badRequest(garbageCollection.message);
  const syncBandwidth = checkSyncBandwidth(input.syncBandwidth === undefined ? syncBandwidthOf(current?.syncBandwidth) : input.syncBandwidth);
  if (!syncBandwidth.ok) throw badRequest(syncBandwidth.message);
  return { garbageCollection: garbageCollection.value, syncBandwidth: syncBandwidth.value };
}

/** The record's filters, checked against its scope (400 naming the bad pattern, range, platform or repository). */
function filtersFor(filters: RepositoryFilter[] | undefined, repositories: string[]): { repositoryFilters?: RepositoryFilter[] } {
  if (filters === undefined) return {};
  const checked = validateRepositoryFilters(filters, repositories);
  if (!checked.ok) throw badRequest(checked.message);
  return { repositoryFilters: checked.filters };
}

function view(record: ConnectedRegistryRecord): ConnectedRegistryView {
  return {
    name: record.name,
    mode: record.mode,
    parent: record.parent ?? null,
    repositories: record.repositories,
    syncToken: record.syncToken,
    clientTokens: record.clientTokens,
    schedule: record.schedule,
    syncWindow: record.syncWindow ?? null,
    messageTtl: record.messageTtl,
    logging: record.logging,
    notifications: record.notifications,
    garbageCollection: garbageCollectionOf(record.garbageCollection),
    syncBandwidth: syncBandwidthOf(record.syncBandwidth),
    repositoryFilters: record.repositoryFilters ?? [],
    resync: record.resync ?? null,
    connectionState: record.connectionState,
    activation: { status: record.activation.status },
    lastActivityTime: record.lastActivityTime ?? null,
    lastSyncTime: record.lastSyncTime ?? null,
    loginServer: record.loginServer ?? null,
    version: record.agentVersion ?? null,
    syncProgress: record.syncProgress ?? null,
    usage: record.usage ?? null,
    lag: record.lag ?? null,
    lastSyncTrigger: record.lastSyncTrigger ?? null,
    statusDetails: record.statusDetails,
    creationDate: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/**
 * A new continuous schedule without a window drops the old window, as `az acr
 * connected-registry update --sync-schedule "* * * * *"` does (ACR's sync tutorial runs
 * exactly that): a window means nothing to a continuous schedule. A bad schedule is left
 * to the validation that names it.
 */
function scheduleBecomesContinuous(input: { schedule?: string | undefined; syncWindow?: string | null | undefined }): boolean {
  if (input.schedule === undefined || input.syncWindow !== undefined) return false;
  try {
    return isContinuous(input.schedule);
  } catch {
    return false;
  }
}
