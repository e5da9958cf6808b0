/** The sync protocol's errors (docs/sync-protocol.md, section 7), in the OCI error body shape. */
import type { HandlerResponse } from "../http/types.js";

export type SyncErrorCode = "NOT_ACTIVE" | "ALREADY_ACTIVATED" | "UNSUPPORTED_PROTOCOL" | "CURSOR_EXPIRED" | "CURSOR_INVALID" | "NOT_FOUND" | "INVALID_REQUEST";

const statusOf: Record<SyncErrorCode, number> = {
  NOT_ACTIVE: 403,
  ALREADY_ACTIVATED: 409,
  UNSUPPORTED_PROTOCOL: 400,
  CURSOR_EXPIRED: 410,
  CURSOR_INVALID: 400,
  NOT_FOUND: 404,
  INVALID_REQUEST: 400,
};

export class SyncError extends Error {
  constructor(
    readonly code: SyncErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }

  get status(): number {
    return statusOf[this.code];
  }
}

export function syncJson(status: number, value: unknown): HandlerResponse {
  const body = JSON.stringify(value);
  return { status, headers: { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(Buffer.byteLength(body)), "Cache-Control": "no-store" }, body };
}

export function syncErrorResponse(error: SyncError): HandlerResponse {
  return syncJson(error.status, { errors: [{ code: error.code, message: error.message, ...(error.detail !== undefined ? { detail: error.detail } : {}) }] });
}
