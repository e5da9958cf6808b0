/**
 * The JSON error of every surface outside /v2/ (the management API's shape, docs/admin-api.md):
 * `{"error": {"code", "message"}}`. Defined here, below the surfaces, so the hosts can answer
 * in it too (an unknown path, a method a route does not take, too many uploads).
 */
import type { HandlerResponse, HostRefusal } from "./types.js";

export function jsonErrorResponse(status: number, code: string, message: string, headers: Record<string, string> = {}): HandlerResponse {
  const body = JSON.stringify({ error: { code, message } });
  return {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(Buffer.byteLength(body)), ...headers },
    body,
  };
}

export function refuseWithJsonError(refusal: HostRefusal): HandlerResponse {
  return jsonErrorResponse(refusal.status, refusal.code, refusal.message, refusal.headers);
}
