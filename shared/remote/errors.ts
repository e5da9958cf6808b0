/**
 * What a call to another registry can fail with: the registry answered and refused
 * (RemoteError), or it could not be reached (RemoteUnreachableError), and whether retrying may help.
 */
import type { RemoteResponse } from "./http-client.js";

/** The registry answered, and refused (any non-2xx status the caller did not expect). */
export class RemoteError extends Error {
  override readonly name = "RemoteError";
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }

  /**
   * Reads an error answer. The registry speaks `{"errors":[{code,message,detail}]}` on /v2/ and the
   * sync endpoints; the token server adds `{error, error_description}`; storage answers XML.
   */
  static async fromResponse(response: RemoteResponse, what: string): Promise<RemoteError> {
    let text = "";
    try {
      text = (await response.bytes(64 * 1024)).toString("utf8");
    } catch {
      response.body.destroy();
    }
    let code: string | undefined;
    let message: string | undefined;
    let detail: unknown;
    try {
      const parsed = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown; detail?: unknown }>; error?: unknown; error_description?: unknown };
      const first = parsed.errors?.[0];
      if (first) {
        if (typeof first.code === "string") code = first.code;
        if (typeof first.message === "string") message = first.message;
        detail = first.detail;
      } else if (typeof parsed.error === "string") {
        code = parsed.error;
        if (typeof parsed.error_description === "string") message = parsed.error_description;
      }
    } catch {
      // Not JSON (storage's XML, a proxy's HTML page): the status says enough.
    }
    const suffix = code ? ` ${code}${message ? `: ${message}` : ""}` : "";
    // Through a proxy, a refusal may be the proxy's own (an ACL's 403): name it, so nobody hunts for it at the parent.
    const via = response.proxy ? ` (through the proxy ${response.proxy})` : "";
    return new RemoteError(response.status, `${what} answered ${response.status}${suffix}${via}`, code, detail);
  }
}

/** The registry (or the storage it redirected to) could not be reached or stopped answering. */
export class RemoteUnreachableError extends Error {
  override readonly name = "RemoteUnreachableError";
  constructor(
    message: string,
    /** The network error's code: ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND... */
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const TRANSIENT_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ERR_STREAM_PREMATURE_CLOSE",
  // undici (the proxied path): the connection closed or went quiet mid-body.
  "UND_ERR_SOCKET", "UND_ERR_BODY_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT"]);

/**
 * Whether retrying may help: the registry unreachable, a 5xx/429/408, or the connection dropping
 * mid-body (which surfaces from the body stream as a plain Node error, not as our classes).
 */
export function isTransientError(error: unknown): boolean {
  if (error instanceof RemoteUnreachableError) return true;
  if (error instanceof RemoteError) return error.status >= 500 || error.status === 429 || error.status === 408;
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code && TRANSIENT_CODES.has(code)) return true;
    return error.message === "aborted";
  }
  return false;
}
