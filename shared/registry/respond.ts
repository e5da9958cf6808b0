/** Response helpers shared by the /v2/ resources. */
import type { HandlerResponse, HostRefusal } from "../http/types.js";
import { RegistryError, errorBody } from "../domain/registry-errors.js";

/** Every /v2/ response carries it; clients use it to recognise a registry. */
export const API_VERSION_HEADERS = { "Docker-Distribution-API-Version": "registry/2.0" } as const;

export function errorResponse(error: RegistryError, method: string): HandlerResponse {
  const body = errorBody(error);
  return {
    status: error.status,
    headers: {
      ...API_VERSION_HEADERS,
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": String(Buffer.byteLength(body)),
      ...error.headers,
    },
    // A HEAD response has no body, but keeps the headers it would have had.
    ...(method === "HEAD" ? {} : { body }),
  };
}

/**
 * What a host refuses under /v2/ (too many uploads from one client, a method no route takes),
 * in the spec's error shape: TOOMANYREQUESTS, or UNSUPPORTED, the spec's code for an operation
 * the registry does not offer.
 */
export function refuseV2(refusal: HostRefusal): HandlerResponse {
  const code = refusal.code === "TooManyRequests" ? "TOOMANYREQUESTS" : "UNSUPPORTED";
  return errorResponse(new RegistryError(code, refusal.message, { status: refusal.status, headers: refusal.headers }), "GET");
}

export function jsonResponse(status: number, value: unknown, headers: Record<string, string> = {}): HandlerResponse {
  const body = JSON.stringify(value);
  return {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(Buffer.byteLength(body)), ...headers },
    body,
  };
}

export function emptyResponse(status: number, headers: Record<string, string> = {}): HandlerResponse {
  return { status, headers: { "Content-Length": "0", ...headers } };
}

/** The `Range` header of an upload: the bytes received so far, inclusive ("0-0" when none). */
export function uploadRange(offset: number): string {
  return `0-${Math.max(offset - 1, 0)}`;
}

export function nextPageLink(path: string, limit: number, last: string): string {
  return `<${path}?n=${limit}&last=${encodeURIComponent(last)}>; rel="next"`;
}
