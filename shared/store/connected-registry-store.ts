/**
 * What connected registries need from storage: one document per connected registry,
 * replaced only if unchanged since it was read, so read-change-write updates (the
 * 20-client-token limit among them) hold under concurrent requests.
 */
import type {
  ActivationStatus,
  ConnectedRegistryMode,
  ConnectionState,
  EdgeUsageReport,
  GarbageCollectionSettings,
  LoggingLevel,
  RepositoryFilter,
  SyncLagReport,
  SyncProgressReport,
  StatusChange,
  SyncTrigger,
} from "../domain/connected-registry/index.js";

export interface ConnectedRegistryRecord {
  name: string;
  mode: ConnectedRegistryMode;
  /** The parent connected registry; absent when the parent is the cloud registry. */
  parent?: string;
  /** The repositories it syncs (plain names). */
  repositories: string[];
  syncToken: string;
  /** True when create made the sync token and its scope map (create with `repositories`). */
  syncTokenCreated: boolean;
  clientTokens: string[];
  schedule: string;
  syncWindow?: string;
  messageTtl: string;
  logging: LoggingLevel;
  /** "<repository>:<tag or digest>:<push|delete|*>", as the operator wrote them. */
  notifications: string[];
  connectionState: ConnectionState;
  /** Which edge instance holds the activation (a second one is refused until deactivation). */
  activation: { status: ActivationStatus; instanceId?: string; activatedAt?: string };
  lastActivityTime?: string;
  lastSyncTime?: string;
  /** Where clients and children reach the edge agent (host[:port], and whether it serves HTTPS), reported in the handshake. */
  loginServer?: { host: string; tls: boolean };
  /** The edge agent's version, reported in the handshake. */
  agentVersion?: string;
  /** Absent on records made before the setting: the default applies (domain/connected-registry/edge-maintenance.ts). */
  garbageCollection?: GarbageCollectionSettings;
  /** Tag and platform filters per repository in scope (domain/connected-registry/repository-filters.ts); absent for none. */
  repositoryFilters?: RepositoryFilter[];
  /** The sync bandwidth cap as the operator wrote it; absent or null for none. */
  syncBandwidth?: string | null;
  /** The latest resync request id (`connected-registry resync`); the edge runs a full sync when it changes. */
  resync?: string;
  /** From the edge's status reports (docs/sync-protocol.md, section 6): how far the running sync is, disk usage, lag, what started the last sync. */
  syncProgress?: SyncProgressReport;
  usage?: EdgeUsageReport;
  lag?: SyncLagReport;
  lastSyncTrigger?: SyncTrigger;
  statusDetails: Array<{ type: string; code: string; description: string; timestamp: string; correlationId?: string }>;
  /** The last status changes (domain/connected-registry/status-history.ts), oldest first. */
  statusHistory?: StatusChange[];
  /** The edge's last accepted inventory: its digest names the generation in the EdgeInventoryStore. */
  inventory?: { digest: string; reportedAt: string; tags: number; truncated: boolean };
  createdAt: string;
  updatedAt: string;
  /** Opaque concurrency token for `replace`. */
  version?: string;
}

export interface ConnectedRegistryStore {
  get(name: string): Promise<ConnectedRegistryRecord | undefined>;
  /** Every connected registry of the registry, by name. */
  list(): Promise<ConnectedRegistryRecord[]>;
  /** The connected registries whose parent is `parent`, by name (a configuration's children: one query, not a scan of them all). */
  listChildren(parent: string): Promise<ConnectedRegistryRecord[]>;
  /** Throws AlreadyExistsError when one of that name exists. */
  create(record: ConnectedRegistryRecord): Promise<ConnectedRegistryRecord>;
  /** Replaces it if unchanged since read (its `version`); throws ConcurrentUpdateError. */
  replace(record: ConnectedRegistryRecord): Promise<ConnectedRegistryRecord>;
  delete(name: string): Promise<boolean>;
}
