/**
 * Notifications a connected registry reports in its status call (docs/sync-protocol.md,
 * section 6): each event that matches one of the registry's `notifications` patterns goes
 * to the webhooks with the connected registry named, as ACR's `connectedRegistry` field.
 * The edge filters by the same patterns; checking here again means an edge cannot raise
 * events its operator did not ask for. The event keeps the edge's id, so a report sent
 * again (its answer lost) queues nothing twice.
 */
import { matchesNotification } from "../domain/event-scope.js";
import type { EdgeEventReport } from "../domain/connected-registry/index.js";
import type { ConnectedRegistryRecord } from "../store/connected-registry-store.js";
import type { EventSink } from "./outbox.js";

/** Returns how many events the report carried (all are now queued or knowingly dropped). */
export async function queueEdgeEvents(sink: EventSink, record: ConnectedRegistryRecord, events: EdgeEventReport[]): Promise<number> {
  for (const event of events) {
    const scoped = { action: event.action, repository: event.repository, ...(event.tag ? { tag: event.tag } : {}), ...(event.digest ? { digest: event.digest } : {}) };
    if (!record.notifications.some((pattern) => matchesNotification(pattern, scoped))) continue;
    await sink.emit({
      id: event.id,
      timestamp: event.timestamp,
      action: event.action,
      target: {
        repository: event.repository,
        ...(event.tag ? { tag: event.tag } : {}),
        ...(event.digest ? { digest: event.digest } : {}),
        ...(event.mediaType ? { mediaType: event.mediaType } : {}),
        ...(event.size !== undefined ? { size: event.size } : {}),
      },
      connectedRegistry: { name: record.name },
    });
  }
  return events.length;
}
