/**
 * What a receiver gets (docs/events.md): one event per request, in Event Grid's schema
 * (an array of one event whose `data` is ACR's ContainerRegistry event data) or, when the
 * webhook asks for it, CloudEvents 1.0 in structured mode (`application/cloudevents+json`).
 * The envelope's id is the event's id, so every attempt and every webhook carry the same one.
 */
import type { PayloadFormat, RegistryEvent } from "../store/event-store.js";

export const EVENT_TYPES = { push: "Microsoft.ContainerRegistry.ImagePushed", delete: "Microsoft.ContainerRegistry.ImageDeleted", ping: "Microsoft.ContainerRegistry.Ping" } as const;

export interface RenderedPayload {
  body: string;
  contentType: string;
}

/** `source`: the registry (its login server); Event Grid calls it `topic`. */
export function renderPayload(event: RegistryEvent, format: PayloadFormat, source: string): RenderedPayload {
  const subject = event.target.tag ? `${event.target.repository}:${event.target.tag}` : `${event.target.repository}@${event.target.digest ?? ""}`;
  const data = eventData(event);
  if (format === "cloudevents") {
    const body = { specversion: "1.0", id: event.id, source, type: EVENT_TYPES[event.action], subject, time: event.timestamp, datacontenttype: "application/json", data };
    return { body: JSON.stringify(body), contentType: "application/cloudevents+json; charset=utf-8" };
  }
  const body = [{ id: event.id, topic: source, subject, eventType: EVENT_TYPES[event.action], eventTime: event.timestamp, data, dataVersion: "1.0", metadataVersion: "1" }];
  return { body: JSON.stringify(body), contentType: "application/json; charset=utf-8" };
}

/** ACR's event data: `length` repeats `size`, as ACR sends it. */
function eventData(event: RegistryEvent): Record<string, unknown> {
  const { target } = event;
  return {
    id: event.id,
    timestamp: event.timestamp,
    action: event.action,
    target: {
      ...(target.mediaType ? { mediaType: target.mediaType } : {}),
      ...(target.size !== undefined ? { size: target.size, length: target.size } : {}),
      ...(target.digest ? { digest: target.digest } : {}),
      repository: target.repository,
      ...(target.tag ? { tag: target.tag } : {}),
    },
    ...(event.request ? { request: event.request } : {}),
    ...(event.connectedRegistry ? { connectedRegistry: event.connectedRegistry } : {}),
  };
}
