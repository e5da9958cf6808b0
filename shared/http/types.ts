/**
 * The framework-neutral request and response that every handler speaks. The Azure
 * Functions adapter and the local host both convert to and from these, so a handler
 * never knows which one called it.
 */

/**
 * What a handler reads of a request's headers: `get`, by a case-insensitive name, a repeated
 * header's values joined with ", ", null when absent. The Azure adapter passes WHATWG
 * Headers; the local host a view of node's parsed headers (node-headers.ts says why).
 */
export interface HeaderReader {
  get(name: string): string | null;
}

export interface HandlerRequest {
  method: string;
  /** The full URL as the client sent it (path still percent-encoded). */
  url: URL;
  headers: HeaderReader;
  /** The streamed body, or null when there is none. */
  body: AsyncIterable<Uint8Array> | null;
  /** Aborted (with a ClientGoneError) when the client goes away; the local host sets it, Azure does not. */
  signal?: AbortSignal;
  /**
   * The client's IP address, for limits per client (failed logins): the socket's peer on
   * the local host, the front end's X-Forwarded-For entry in Azure (client-address.ts).
   */
  clientAddress?: string;
}

export type ResponseBody = string | Uint8Array | AsyncIterable<Uint8Array>;

export interface HandlerResponse {
  status: number;
  headers?: Record<string, string>;
  body?: ResponseBody;
}

export type Handler = (request: HandlerRequest) => Promise<HandlerResponse>;

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "TRACE";

/** Every method a route may take: a catch-all surface takes them all and answers 405 itself, naming what the path allows. */
export const ALL_METHODS: HttpMethod[] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];

/** What a host refuses before any handler runs; the route's surface renders it in its own error shape. */
export interface HostRefusal {
  status: 404 | 405 | 429;
  code: "NotFound" | "MethodNotAllowed" | "TooManyRequests";
  message: string;
  headers: Record<string, string>;
}

export interface RouteDefinition {
  /** Function name in Azure; unique. */
  name: string;
  /** Azure Functions route template; a catch-all `{*x}` may only be the last segment. */
  route: string;
  methods: HttpMethod[];
  handler: Handler;
  /** Renders the host's refusals in this surface's error shape; the JSON error of the management API by default. */
  refuse?: (refusal: HostRefusal) => HandlerResponse;
  /**
   * Requests with a body here are uploads (blobs, manifests), which count against the local
   * host's per-client cap. Management and token requests do not: a client creating 50 tokens
   * at once is not holding uploads open, and their bodies are small and bounded anyway.
   */
  uploads?: boolean;
}

export interface TimerDefinition {
  name: string;
  /** NCRONTAB with seconds, as Azure Functions timers take it: "0 *\/15 * * * *". */
  schedule: string;
  run: (log: (message: string) => void) => Promise<void>;
}
