/** What the management API answers (docs/admin-api.md), as far as the console reads it. */
export type ConnectionState = "Online" | "Offline" | "Syncing" | "Unhealthy";

export interface StatusDetail {
  type: string;
  code: string;
  description: string;
  timestamp: string;
  correlationId?: string;
}

export interface ConnectedRegistry {
  name: string;
  mode: "ReadWrite" | "ReadOnly";
  parent: string | null;
  repositories: string[];
  syncToken: string;
  clientTokens: string[];
  schedule: string;
  syncWindow: string | null;
  messageTtl: string;
  connectionState: ConnectionState;
  activation: { status: "Active" | "Inactive" };
  lastActivityTime: string | null;
  lastSyncTime: string | null;
  syncProgress: { phase: string; objectsDone: number; objectsTotal: number; bytesDone: number; bytesTotal: number } | null;
  usage: { bytes: number; repositories: number; freeBytes: number | null } | null;
  lag: { changes: number; oldestChangeAgeSeconds: number | null } | null;
  version: string | null;
  statusDetails: StatusDetail[];
  resync: string | null;
}

export interface Token {
  name: string;
  scopeMap: string;
  status: "enabled" | "disabled";
  creationDate: string;
  credentials: { passwords: Array<{ name: string; creationTime: string; expiry?: string }> };
}

export interface ScopeMap {
  name: string;
  type: "UserDefined" | "SystemDefined";
  description?: string;
  actions: string[];
}

export interface ImportOperation {
  id: string;
  status: "Running" | "Succeeded" | "Failed";
  source: string;
  targetTags: string[];
  progress?: { bytesCopied: number; bytesTotal: number; blobsCopied: number; blobsTotal: number; blobsSkipped: number };
  digest?: string | null;
  error: { code: string; message: string } | null;
}

export const LIMITS = { tokens: 20_000, scopeMaps: 20_000, actionsPerScopeMap: 500, clientTokensPerRegistry: 20 } as const;

export interface Paged<T> {
  value: T[];
  nextLink?: string;
}

export interface RepositorySummary {
  name: string;
  tagCount: number;
  manifestCount: number;
  lastUpdate: string | null;
}

export interface TagDetail {
  tag: string;
  digest: string;
  mediaType: string;
  size: number;
  updatedAt: string;
}

export interface DescriptorView {
  digest: string;
  mediaType: string;
  size: number;
}

export interface ManifestView extends DescriptorView {
  repository: string;
  artifactType: string | null;
  subject: string | null;
  annotations: Record<string, string>;
  createdAt: string;
  totalSize: number | null;
  config?: DescriptorView;
  layers?: DescriptorView[];
  platforms?: Array<DescriptorView & { platform: Record<string, unknown> | null; totalSize: number | null }>;
  referrers: Array<DescriptorView & { artifactType: string | null; annotations: Record<string, string>; createdAt: string }>;
}

/** docs/admin-api.md, "Status history". */
export interface StatusChange {
  timestamp: string;
  connectionState: ConnectionState;
  activation: "Active" | "Inactive";
  codes: string[];
}

/** docs/admin-api.md, "Locations": an edge holding a manifest under some tags. */
export interface ManifestLocation {
  connectedRegistry: string;
  digest: string;
  tags: string[];
  matches: boolean;
  reportedAt: string;
  truncated: boolean;
}
