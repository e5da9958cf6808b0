/** Errors of the management API: a status, a stable code, and a message a person can act on. */
import { jsonErrorResponse } from "../http/json-error.js";
import type { HandlerResponse } from "../http/types.js";

export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string): AdminError => new AdminError(400, "InvalidRequest", message);
export const notFound = (message: string): AdminError => new AdminError(404, "NotFound", message);
export const conflict = (message: string): AdminError => new AdminError(409, "Conflict", message);

export function adminJson(status: number, value: unknown): HandlerResponse {
  const body = JSON.stringify(value);
  return { status, headers: { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(Buffer.byteLength(body)) }, body };
}

export function adminErrorResponse(error: AdminError): HandlerResponse {
  return jsonErrorResponse(error.status, error.code, error.message, error.headers);
}
