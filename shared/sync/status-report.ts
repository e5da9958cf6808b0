/**
 * What the cloud keeps of an edge's status report (docs/sync-protocol.md, section 6): the
 * record's connection state, progress, usage, lag, last trigger and statusDetails.
 *
 * - connectionState: Unhealthy while the edge reports a condition, a failed cycle or a
 *   skipped object; else what the edge says (Syncing while a sync runs, Online otherwise).
 * - statusDetails: the edge's conditions by code, each with the correlation id the edge logged
 *   with it; skipped objects as ObjectSkipped. An agent that sends no `details` (older than
 *   them) has its lastError shown as SyncFailed, as before.
 * - A field the report leaves out keeps its last value (an older agent sends no progress);
 *   progress is dropped once the edge is Online again, so `show` never shows a stale sync.
 */
import type { EdgeStatusReport } from "../domain/connected-registry/index.js";
import type { ConnectedRegistryRecord } from "../store/connected-registry-store.js";

type StatusDetail = ConnectedRegistryRecord["statusDetails"][number];

export function recordStatusReport(current: ConnectedRegistryRecord, report: EdgeStatusReport, timestamp: string): ConnectedRegistryRecord {
  const conditions: StatusDetail[] = report.details
    ? report.details.map((detail) => ({ type: "edge", code: detail.code, description: detail.description, timestamp: detail.since, correlationId: detail.correlationId }))
    : report.lastError
      ? [{ type: "sync", code: "SyncFailed", description: report.lastError, timestamp }]
      : [];
  const skipped: StatusDetail[] = (report.failures ?? []).map((failure) => ({
    type: "sync",
    code: "ObjectSkipped",
    description: `${failure.item} could not be synced: ${failure.error}`,
    timestamp: failure.since ?? timestamp,
  }));
  const unhealthy = conditions.length > 0 || skipped.length > 0;
  const { syncProgress: _previousProgress, ...rest } = current;
  return {
    ...rest,
    lastActivityTime: timestamp,
    connectionState: unhealthy ? "Unhealthy" : report.state,
    ...(report.lastSyncTime ? { lastSyncTime: report.lastSyncTime } : {}),
    ...(report.state === "Syncing" && report.progress ? { syncProgress: report.progress } : {}),
    ...(report.usage ? { usage: report.usage } : {}),
    ...(report.lag ? { lag: report.lag } : {}),
    ...(report.trigger ? { lastSyncTrigger: report.trigger } : {}),
    statusDetails: [...conditions, ...skipped],
  };
}
