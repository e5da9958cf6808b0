/**
 * How `connected-registry show/list` print what the edge reported (docs/sync-protocol.md,
 * section 6): its sync progress, disk usage, lag behind the parent, and its status codes.
 */
import { formatBytes } from "../../shared/domain/quantities.js";
import type { ConnectedRegistryView } from "../../shared/admin/connected-registries.js";

export function progressText(registry: Pick<ConnectedRegistryView, "syncProgress">): string | null {
  const progress = registry.syncProgress;
  if (!progress) return null;
  return `${progress.phase}: ${progress.objectsDone}/${progress.objectsTotal} objects, ${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)}`;
}

export function usageText(registry: Pick<ConnectedRegistryView, "usage">): string | null {
  const usage = registry.usage;
  if (!usage) return null;
  return `${formatBytes(usage.bytes)} in ${usage.repositories} repositor${usage.repositories === 1 ? "y" : "ies"}${usage.freeBytes !== undefined ? `, ${formatBytes(usage.freeBytes)} free` : ""}`;
}

export function lagText(registry: Pick<ConnectedRegistryView, "lag">): string | null {
  const lag = registry.lag;
  if (!lag) return null;
  if (lag.changes === 0) return "up to date";
  return `${lag.changes} change${lag.changes === 1 ? "" : "s"} behind${lag.oldestChangeAgeSeconds !== null ? `, oldest ${Math.round(lag.oldestChangeAgeSeconds)} s old` : ""}`;
}

/** The distinct codes of statusDetails, in order: what an operator greps or alerts on. */
export function statusCodes(registry: Pick<ConnectedRegistryView, "statusDetails">): string[] {
  return [...new Set((registry.statusDetails ?? []).map((detail) => detail.code))];
}

export function statusDetailLines(registry: Pick<ConnectedRegistryView, "statusDetails">): string[] {
  return (registry.statusDetails ?? []).map(
    (d) => `${d.timestamp} ${d.type} ${d.code}: ${d.description}${d.correlationId ? ` (correlation id ${d.correlationId})` : ""}`,
  );
}
