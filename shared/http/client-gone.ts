/**
 * A client that goes away mid-request (closes the connection, or stops sending its body) is
 * not a server error. Handlers that see their request's signal aborted answer
 * `clientClosedResponse()` without logging; the host writes the one log line, and metrics count
 * the request under 499, nginx's "client closed request" (never sent: nobody is listening).
 */
import type { HandlerRequest, HandlerResponse } from "./types.js";

export const CLIENT_CLOSED_STATUS = 499;

export class ClientGoneError extends Error {
  constructor(
    /** closed: the client closed the connection; idle: it sent no body bytes for too long. */
    readonly reason: "closed" | "idle",
    message: string,
  ) {
    super(message);
  }
}

export function clientGone(request: HandlerRequest): boolean {
  return request.signal?.aborted === true;
}

export function clientClosedResponse(): HandlerResponse {
  return { status: CLIENT_CLOSED_STATUS };
}
