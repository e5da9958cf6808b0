/**
 * HTTP to the registry: the management API under /management/ with the admin key
 * (docs/admin-api.md), and the /v2/ Distribution API with a token's Basic credentials for
 * what the management API has no endpoint for (repositories). Every failure becomes an
 * ApiError (the server answered with an error) or an UnreachableError (it did not answer).
 */
import { ApiError, UnreachableError } from "./errors.js";

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** How long one request may take before the endpoint counts as unreachable. */
const REQUEST_TIMEOUT_MS = 100_000;

/** `https://host` for a bare host name (as an az login server), the URL without its trailing slash otherwise. */
export function normalizeEndpoint(endpoint: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`;
  return withScheme.replace(/\/+$/, "");
}

export interface ApiAnswer<T> {
  status: number;
  headers: Headers;
  body: T;
}

class HttpClient {
  constructor(
    readonly endpoint: string,
    private readonly authorization: string,
    private readonly fetchImpl: FetchLike,
  ) {}

  /** Sends the request; any answer comes back (errors are the caller's to read), no answer throws UnreachableError. */
  protected async send(method: string, path: string, init: { body?: unknown; bytes?: Buffer; headers?: Record<string, string> } = {}): Promise<Response> {
    const url = `${this.endpoint}${path}`;
    const headers: Record<string, string> = { Authorization: this.authorization, ...init.headers };
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    const body = init.bytes ?? (init.body !== undefined ? JSON.stringify(init.body) : undefined);
    try {
      return await this.fetchImpl(url, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        redirect: "manual",
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new UnreachableError(`cannot reach ${this.endpoint}: ${notTlsHint(this.endpoint, error) ?? networkReason(error)}`);
    }
  }
}

/**
 * https:// to a server that answers plain HTTP fails deep in OpenSSL ("wrong version
 * number"); say what it means. A bare host is taken as https://, so this is also what a
 * forgotten http:// looks like.
 */
function notTlsHint(endpoint: string, error: unknown): string | undefined {
  if (!endpoint.startsWith("https://")) return undefined;
  const texts: string[] = [];
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; depth++, current = current.cause) {
    texts.push(current.message, String((current as { code?: unknown }).code ?? ""));
  }
  if (!/wrong version number|WRONG_VERSION_NUMBER|packet length too long|EPROTO/i.test(texts.join(" "))) return undefined;
  return `it does not answer TLS (https): if it serves plain HTTP, use http://${endpoint.slice("https://".length)} (an endpoint without http:// or https:// is taken as https://)`;
}

/** The management API, authenticated with the admin key. */
export class ManagementApi extends HttpClient {
  constructor(endpoint: string, adminKey: string, fetchImpl: FetchLike = fetch) {
    super(endpoint, `Bearer ${adminKey}`, fetchImpl);
  }

  /** `path` is below /management/, e.g. "scopeMaps/hello". Answers the parsed JSON (undefined for 204). */
  async call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.request<T>(method, path, body)).body;
  }

  async request<T = any>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
    const response = await this.send(method, `/management/${path}`, { body });
    const text = await readText(response, this.endpoint);
    if (!response.ok) throw managementError(response.status, text);
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(response.status, "InvalidResponse", `${method} /management/${path} answered ${response.status} with a body that is not JSON: ${snippet(text)}`);
    }
    return { status: response.status, headers: response.headers, body: parsed as T };
  }
}

/** What /v2/ needs to resolve a tag to the digest DELETE takes. */
const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.artifact.manifest.v1+json",
].join(", ");

/** The Distribution API with a token's Basic credentials (the registry accepts them without the token server). */
export class RegistryApi extends HttpClient {
  constructor(endpoint: string, username: string, password: string, fetchImpl: FetchLike = fetch) {
    super(endpoint, `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`, fetchImpl);
  }

  /** Every repository the token may read, following the catalog's `Link` pages. */
  async catalog(): Promise<string[]> {
    return this.paged("/v2/_catalog?n=1000", (body) => (body as { repositories?: string[] }).repositories ?? []);
  }

  /** Every tag of a repository, following `Link` pages. */
  async tags(repository: string): Promise<string[]> {
    return this.paged(`/v2/${repository}/tags/list?n=1000`, (body) => (body as { tags?: string[] | null }).tags ?? []);
  }

  /** The digest a tag (or digest) points at: HEAD of the manifest. */
  async resolve(repository: string, reference: string): Promise<string> {
    if (reference.includes(":")) return reference;
    const response = await this.send("HEAD", `/v2/${repository}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });
    if (!response.ok) {
      await response.arrayBuffer().catch(() => undefined);
      throw response.status === 404
        ? new ApiError(404, "MANIFEST_UNKNOWN", `${repository}:${reference} does not exist`)
        : registryError(response.status, "", response.headers);
    }
    const digest = response.headers.get("docker-content-digest");
    if (!digest) throw new ApiError(response.status, "InvalidResponse", `HEAD /v2/${repository}/manifests/${reference} answered without Docker-Content-Digest`);
    return digest;
  }

  /** DELETE of a manifest: by digest, the manifest and every tag on it; by tag, the tag only. */
  async deleteManifest(repository: string, reference: string): Promise<void> {
    const response = await this.send("DELETE", `/v2/${repository}/manifests/${reference}`);
    const text = await readText(response, this.endpoint);
    if (!response.ok) throw registryError(response.status, text, response.headers);
  }

  /** A manifest's JSON and media type, by tag or digest. */
  async manifest(repository: string, reference: string): Promise<{ mediaType: string; digest: string; size: number; body: any }> {
    const response = await this.send("GET", `/v2/${repository}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });
    const text = await readText(response, this.endpoint);
    if (!response.ok) throw registryError(response.status, text, response.headers);
    const body = JSON.parse(text);
    return { mediaType: response.headers.get("content-type") ?? body.mediaType ?? "", digest: response.headers.get("docker-content-digest") ?? reference, size: Buffer.byteLength(text), body };
  }

  /** A small JSON blob (an image config). A 307 to storage is followed without the registry's credentials. */
  async jsonBlob(repository: string, digest: string): Promise<any> {
    let response = await this.send("GET", `/v2/${repository}/blobs/${digest}`);
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      await response.arrayBuffer().catch(() => undefined);
      try {
        response = await fetch(new URL(location, `${this.endpoint}/`), { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      } catch (error) {
        throw new UnreachableError(`cannot reach the storage the registry redirected to: ${networkReason(error)}`);
      }
    }
    const text = await readText(response, this.endpoint);
    if (!response.ok) throw registryError(response.status, text, response.headers);
    return JSON.parse(text);
  }

  /** Uploads a blob in one PUT (POST opens the upload, PUT ?digest= closes it), unless the repository has it. */
  async pushBlob(repository: string, digest: string, bytes: Buffer): Promise<void> {
    const head = await this.send("HEAD", `/v2/${repository}/blobs/${digest}`);
    await head.arrayBuffer().catch(() => undefined);
    if (head.ok) return;
    const opened = await this.send("POST", `/v2/${repository}/blobs/uploads/`);
    const openedText = await readText(opened, this.endpoint);
    if (opened.status !== 202) throw registryError(opened.status, openedText, opened.headers);
    const location = opened.headers.get("location");
    if (!location) throw new ApiError(opened.status, "InvalidResponse", `POST /v2/${repository}/blobs/uploads/ answered without a Location`);
    const target = new URL(location, `${this.endpoint}/`);
    // ?digest=sha256:... unencoded, as registry clients send it.
    const closed = await this.send("PUT", `${target.pathname}${target.search ? `${target.search}&` : "?"}digest=${digest}`, { bytes, headers: { "Content-Type": "application/octet-stream" } });
    const closedText = await readText(closed, this.endpoint);
    if (closed.status !== 201) throw registryError(closed.status, closedText, closed.headers);
  }

  async putManifest(repository: string, reference: string, mediaType: string, bytes: Buffer): Promise<void> {
    const response = await this.send("PUT", `/v2/${repository}/manifests/${reference}`, { bytes, headers: { "Content-Type": mediaType } });
    const text = await readText(response, this.endpoint);
    if (response.status !== 201) throw registryError(response.status, text, response.headers);
  }

  private async paged(first: string, items: (body: unknown) => string[]): Promise<string[]> {
    const all: string[] = [];
    let path: string | undefined = first;
    while (path) {
      const response = await this.send("GET", path);
      const text = await readText(response, this.endpoint);
      if (!response.ok) throw registryError(response.status, text, response.headers);
      try {
        all.push(...items(JSON.parse(text)));
      } catch {
        throw new ApiError(response.status, "InvalidResponse", `GET ${path} answered a body that is not JSON: ${snippet(text)}`);
      }
      path = nextLink(response.headers.get("link"));
    }
    return all;
  }
}

/** The path of a `Link: </v2/...>; rel="next"` header. */
export function nextLink(header: string | null): string | undefined {
  const match = header ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(header) : null;
  if (!match) return undefined;
  const target = match[1]!;
  return target.startsWith("/") ? target : new URL(target).pathname + new URL(target).search;
}

async function readText(response: Response, endpoint: string): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    throw new UnreachableError(`lost the connection to ${endpoint}: ${networkReason(error)}`);
  }
}

/** `{"error": {"code", "message"}}`, or whatever the server said. */
function managementError(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.code) return new ApiError(status, body.error.code, body.error.message ?? "");
  } catch {
    // not the management API's error shape: fall through
  }
  return new ApiError(status, `HTTP${status}`, text ? snippet(text) : `the endpoint answered ${status} without a body`);
}

/** `{"errors": [{"code", "message"}]}` as the Distribution spec has it. */
function registryError(status: number, text: string, headers: Headers): ApiError {
  try {
    const body = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    const first = body.errors?.[0];
    if (first?.code) return new ApiError(status, first.code, first.message ?? "");
  } catch {
    // fall through
  }
  if (status === 401) {
    const challenge = headers.get("www-authenticate");
    return new ApiError(401, "UNAUTHORIZED", `the registry refused the credentials${challenge ? ` (${challenge})` : ""}: give a token's --username/--password (or REGISTRY_USERNAME/REGISTRY_PASSWORD)`);
  }
  return new ApiError(status, `HTTP${status}`, text ? snippet(text) : `the registry answered ${status}`);
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}...` : flat;
}

/** ECONNREFUSED, ENOTFOUND, a timeout...: the most specific reason fetch gives. */
function networkReason(error: unknown): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.message) return cause.code && !cause.message.includes(cause.code) ? `${cause.code} (${cause.message})` : cause.message;
  if (cause?.code) return cause.code;
  return error instanceof Error ? error.message : String(error);
}
