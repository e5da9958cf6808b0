/**
 * How long a server waits on a client, and how many uploads one client address may run at
 * once: without these, a body that never finishes holds a connection (and its upload state)
 * for ever. The local host and the edge agent's server apply them; in Azure the Functions
 * front end owns the connections. Each setting is validated once, the same way for both.
 */
import { z } from "zod";

export interface HttpLimits {
  /** Time to receive a request's headers (Node's server.headersTimeout). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, headers and body (server.requestTimeout); 0: no bound. */
  requestTimeoutMs: number;
  /** Time a body read may wait for the client's next bytes. */
  bodyIdleTimeoutMs: number;
  /** Requests with a body one client address may have in flight; more are answered 429. */
  maxUploadsPerClient: number;
  /** Seconds a refused client is told to wait (Retry-After). */
  retryAfterSeconds: number;
}

export const HTTP_LIMIT_DEFAULTS = {
  headersTimeoutSeconds: 30,
  // Long enough for a multi-gigabyte layer on a slow link; the idle timeout catches a stalled one sooner.
  requestTimeoutSeconds: 3600,
  bodyIdleTimeoutSeconds: 60,
  maxUploadsPerClient: 32,
} as const;

export const httpLimitFields = {
  headersTimeoutSeconds: z.coerce.number().int().min(1).max(600),
  requestTimeoutSeconds: z.coerce.number().int().min(0).max(7 * 24 * 3600),
  bodyIdleTimeoutSeconds: z.coerce.number().int().min(1).max(3600),
  maxUploadsPerClient: z.coerce.number().int().min(1).max(100_000),
};

/** Node refuses a headers timeout longer than a (bounded) request timeout. */
export function headersFitRequest(limits: { headersTimeoutSeconds: number; requestTimeoutSeconds: number }): boolean {
  return limits.requestTimeoutSeconds === 0 || limits.headersTimeoutSeconds <= limits.requestTimeoutSeconds;
}

export function httpLimits(seconds: { headersTimeoutSeconds: number; requestTimeoutSeconds: number; bodyIdleTimeoutSeconds: number; maxUploadsPerClient: number }): HttpLimits {
  return {
    headersTimeoutMs: seconds.headersTimeoutSeconds * 1000,
    requestTimeoutMs: seconds.requestTimeoutSeconds * 1000,
    bodyIdleTimeoutMs: seconds.bodyIdleTimeoutSeconds * 1000,
    maxUploadsPerClient: seconds.maxUploadsPerClient,
    retryAfterSeconds: 5,
  };
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = httpLimits(HTTP_LIMIT_DEFAULTS);
