/** The management API's import endpoints (docs/import.md): start one, and read an operation. */
import type { HandlerRequest, HandlerResponse } from "../http/types.js";
import { readJson } from "../http/json-body.js";
import { ImportError } from "../import/errors.js";
import { importRequestSchema, type ImportService } from "../import/service.js";
import type { ImportOperation } from "../store/operation-store.js";
import { AdminError, adminJson, notFound } from "./errors.js";

/** How long `wait: true` holds the request before answering 202 with the running operation. */
const WAIT_MS = 10 * 60 * 1000;

export async function startImport(imports: ImportService, request: HandlerRequest, log: (message: string) => void, waitMs = WAIT_MS): Promise<HandlerResponse> {
  const input = await readJson(request.body, importRequestSchema);
  let operation: ImportOperation;
  try {
    operation = await imports.start(input);
  } catch (error) {
    if (error instanceof ImportError) throw new AdminError(error.code === "TagExists" ? 409 : 400, error.code, error.message);
    throw error;
  }
  // Work starts now on this instance; the timer picks it up anywhere if this one goes away.
  // A failure here (the queue unreachable) is the timer's to retry; it must not become an unhandled rejection.
  imports.drain().catch((error: unknown) => log(`import worker: ${error instanceof Error ? error.message : String(error)}`));
  const location = { Location: `/management/operations/${operation.id}` };
  if (!input.wait) return withHeaders(adminJson(202, view(operation)), location);
  const latest = (await imports.waitFor(operation.id, waitMs)) ?? operation;
  return withHeaders(adminJson(latest.status === "Running" ? 202 : 200, view(latest)), location);
}

export async function showOperation(imports: ImportService, id: string): Promise<HandlerResponse> {
  const operation = await imports.get(id);
  if (!operation) throw notFound(`operation "${id}" does not exist (ended operations are kept for 7 days)`);
  return adminJson(200, view(operation));
}

/** The operation as clients see it: never the sealed credentials. */
function view(operation: ImportOperation): Record<string, unknown> {
  const { sealedCredentials: _sealed, version: _version, attempts: _attempts, ...visible } = operation;
  return { ...visible, digest: operation.digest ?? null, error: operation.error ?? null, endedAt: operation.endedAt ?? null };
}

function withHeaders(response: HandlerResponse, headers: Record<string, string>): HandlerResponse {
  return { ...response, headers: { ...response.headers, ...headers } };
}
