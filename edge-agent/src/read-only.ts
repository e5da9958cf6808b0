/**
 * ReadOnly mode at the edge: every write on /v2/ (uploads, manifest and tag puts, deletes)
 * is refused before anything else happens, with a message that says why and where to
 * push instead. The mode comes from the parent and can change at run time.
 */
import type { Handler } from "../../shared/http/types.js";
import { RegistryError } from "../../shared/domain/registry-errors.js";
import { API_VERSION_HEADERS, errorResponse } from "../../shared/registry/respond.js";

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function refuseWritesWhenReadOnly(handler: Handler, mode: () => "ReadOnly" | "ReadWrite" | undefined, name: () => string): Handler {
  return async (request) => {
    if (WRITES.has(request.method) && mode() !== "ReadWrite") {
      const error = new RegistryError(
        "UNSUPPORTED",
        `connected registry "${name()}" is read-only (ReadOnly mode): pushes and deletes are refused here; push to its parent registry instead`,
        { status: 405, headers: { Allow: "GET, HEAD" } },
      );
      const response = errorResponse(error, request.method);
      response.headers = { ...API_VERSION_HEADERS, ...response.headers };
      return response;
    }
    return handler(request);
  };
}
