/**
 * The OCI distribution error codes, defined once. The registry engine and the authorizer
 * (shared/auth) both throw `RegistryError`, so it lives below both; the renderer in
 * shared/registry/respond.ts turns it into the spec's JSON body.
 */

export const errorCodes = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  PAGINATION_NUMBER_INVALID: 400,
  // distribution's code for a failure of the registry itself.
  UNKNOWN: 500,
  // The spec prescribes 416 for an unsatisfiable blob Range but names no code for it.
  RANGE_INVALID: 416,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class RegistryError extends Error {
  readonly status: number;
  readonly detail: unknown;
  /** Extra response headers, e.g. the upload's Range on a 416. */
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { status?: number; detail?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = options.status ?? errorCodes[code];
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
}

export function errorBody(error: RegistryError): string {
  const entry: { code: string; message: string; detail?: unknown } = { code: error.code, message: error.message };
  if (error.detail !== undefined) entry.detail = error.detail;
  return JSON.stringify({ errors: [entry] });
}
