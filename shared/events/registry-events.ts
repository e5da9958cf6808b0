/** The events the registry's own push and delete paths raise, with the request that made them. */
import { randomUUID } from "node:crypto";
import { currentCorrelationId } from "../observability/correlation.js";
import type { HandlerRequest } from "../http/types.js";
import type { ManifestRecord, ManifestSummary } from "../store/interfaces.js";
import type { NewEvent } from "./outbox.js";

export function pushEvent(repository: string, manifest: ManifestRecord, tag: string | undefined, request: HandlerRequest): NewEvent {
  return {
    action: "push",
    target: { mediaType: manifest.mediaType, size: manifest.size, digest: manifest.digest, repository, ...(tag ? { tag } : {}) },
    request: requestOf(request),
  };
}

export function deleteEvent(repository: string, manifest: Pick<ManifestSummary, "mediaType" | "digest">, tag: string | undefined, request: HandlerRequest | undefined): NewEvent {
  return {
    action: "delete",
    target: { mediaType: manifest.mediaType, digest: manifest.digest, repository, ...(tag ? { tag } : {}) },
    ...(request ? { request: requestOf(request) } : {}),
  };
}

function requestOf(request: HandlerRequest): NonNullable<NewEvent["request"]> {
  return {
    id: currentCorrelationId() ?? randomUUID(),
    host: request.headers.get("host") ?? request.url.host,
    method: request.method,
    useragent: request.headers.get("user-agent") ?? "",
  };
}
