/**
 * Pushes at a ReadWrite edge whose storage is full: an upload request (start, chunk, final PUT)
 * is refused before any byte is written when its Content-Length does not fit the budget or the
 * volume's floor (or, without a length, when the store is already at its limit). The answer
 * is 507 Insufficient Storage with the OCI error body, its message saying the edge's storage
 * is full. Deletes and manifest PUTs pass: they free room or take next to none. While a
 * request runs its length stays reserved, so parallel pushes cannot overshoot together.
 */
import type { Handler } from "../../shared/http/types.js";
import { API_VERSION_HEADERS, errorResponse } from "../../shared/registry/respond.js";
import { StorageFullError, type DiskGuard } from "./store/disk-guard.js";

const UPLOAD_WRITES = new Set(["POST", "PUT", "PATCH"]);

export function refuseUploadsWhenFull(handler: Handler, guard: Pick<DiskGuard, "reserveBytes">, name: () => string): Handler {
  return async (request) => {
    const path = request.url.pathname;
    // A cross-repository mount adds no bytes.
    if (!UPLOAD_WRITES.has(request.method) || !path.includes("/blobs/uploads/") || request.url.searchParams.has("mount")) return handler(request);
    const length = Number(request.headers.get("content-length") ?? 0);
    let room;
    try {
      room = await guard.reserveBytes(Number.isFinite(length) && length > 0 ? length : 0, `a push to ${path}`);
    } catch (error) {
      if (!(error instanceof StorageFullError)) throw error;
      const refusal = new StorageFullError(`the storage of connected registry "${name()}" is full: ${error.message}; nothing was stored`, error.needed);
      const response = errorResponse(refusal, request.method);
      response.headers = { ...API_VERSION_HEADERS, ...response.headers };
      return response;
    }
    try {
      return await handler(request);
    } finally {
      room.release();
    }
  };
}
