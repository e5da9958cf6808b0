/** Pure rules for connected registries: what admin/, sync/ and the edge agent may use. */
export {
  ACTIVATION_STATUSES,
  CONNECTED_REGISTRY_MODES,
  CONNECTION_STATES,
  DEFAULT_CONNECTED_REGISTRY_MODE,
  DEFAULT_LOGGING_LEVEL,
  LOGGING_LEVELS,
  activationStatusSchema,
  connectedRegistryModeSchema,
  connectedRegistryNameSchema,
  connectionStateSchema,
  isValidConnectedRegistryName,
  loggingLevelSchema,
  type ActivationStatus,
  type ConnectedRegistryMode,
  type ConnectionState,
  type LoggingLevel,
} from "./names-and-modes.js";
export { ancestorsOf, childrenOf, descendantsOf, validateParent, type Hierarchy, type HierarchyCheck, type HierarchyEntry } from "./hierarchy.js";
export {
  CONTINUOUS_SCHEDULE,
  DEFAULT_MESSAGE_TTL,
  MESSAGE_TTL_BOUNDS,
  SYNC_WINDOW_BOUNDS,
  durationMilliseconds,
  isContinuous,
  isInsideWindow,
  nextSyncStart,
  scheduleProblem,
  syncSettingsSchema,
  syncWindowEnd,
  validateSyncSettings,
  type SyncSettings,
  type SyncSettingsInput,
  type SyncSettingsResult,
} from "./sync-settings.js";
export {
  READ_ONLY_REPOSITORY_ACTIONS,
  READ_WRITE_REPOSITORY_ACTIONS,
  SYNC_GATEWAY_ACTIONS,
  actionsForAncestors,
  actionsToStripFromAncestor,
  gatewayActionsFor,
  repositoryActionsFor,
  requiredSyncScopeMapActions,
  syncScopeMapActions,
  validateSyncRepositories,
  type RepositoriesCheck,
  type SyncScope,
} from "./scope-map-actions.js";
export { MAX_CLIENT_TOKENS, applyClientTokenChanges, validateClientTokens, type ClientTokenChanges, type ClientTokensResult } from "./client-tokens.js";
export {
  PARENT_ENDPOINT_PROTOCOLS,
  PASSWORD_PLACEHOLDER,
  formatConnectionString,
  parseConnectionString,
  type ConnectionSettings,
  type ConnectionStringResult,
} from "./connection-string.js";
export {
  DEFAULT_GARBAGE_COLLECTION,
  changeGarbageCollection,
  checkSyncBandwidth,
  garbageCollectionOf,
  syncBandwidthOf,
  type GarbageCollectionSettings,
  type MaintenanceCheck,
} from "./edge-maintenance.js";
export {
  EDGE_STATUS_CODES,
  SYNC_TRIGGERS,
  edgeStatusReportSchema,
  MAX_EVENTS_PER_REPORT,
  type EdgeEventReport,
  type EdgeStatusReport,
  type EdgeUsageReport,
  type SyncLagReport,
  type SyncProgressReport,
  type SyncTrigger,
} from "./edge-status.js";
export {
  compileFilter,
  patternProblem,
  platformText,
  repositoryFilterSchema,
  validateRepositoryFilters,
  type CompiledFilter,
  type Platform,
  type RepositoryFilter,
} from "./repository-filters.js";
export { boundedInventory, edgeInventorySchema, inventoryDigest, inventoryTagCount, MAX_INVENTORY_BODY_BYTES, MAX_INVENTORY_TAGS, type EdgeInventory, type InventoryContent } from "./edge-inventory.js";
export { STATUS_HISTORY_LENGTH, withStatusHistory, type StatusChange } from "./status-history.js";
