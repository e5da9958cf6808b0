/**
 * Reads from another registry's Distribution API as `docker pull` does: anonymous first,
 * then whatever the `WWW-Authenticate` challenge asks for: Basic with the given
 * credentials, or Docker's token flow (a token from the realm for the repository's pull
 * scope, as Docker Hub and ACR require). Redirects to storage are followed without the
 * registry's credentials. Loopback hosts are spoken to over plain HTTP (test registries);
 * every other host over HTTPS.
 */
import { createHash } from "node:crypto";
import { parseDigest } from "../domain/digest.js";
import { MANIFEST_MEDIA_TYPES } from "../domain/media-types.js";
import { RegistryHttpClient, RemoteError, RemoteUnreachableError, type RemoteResponse } from "../remote/http-client.js";
import { ImportError } from "./errors.js";
import type { SourceCredentials } from "./sealed-credentials.js";

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  content: Buffer;
}

const USER_AGENT = "connected-registry-import/0.1";
const ACCEPT = [...MANIFEST_MEDIA_TYPES].join(", ");

export class RemoteSource {
  /** For messages. */
  readonly name: string;
  private readonly client: RegistryHttpClient;
  private readonly realmClients = new Map<string, RegistryHttpClient>();
  /** The Authorization that worked, per repository (tokens are scoped to one). */
  private readonly authorizations = new Map<string, { value: string; until: number }>();

  constructor(
    readonly registry: string,
    private readonly credentials: SourceCredentials | undefined,
  ) {
    this.name = registry;
    this.client = new RegistryHttpClient({ protocol: isLoopback(registry) ? "http" : "https", endpoint: registry, userAgent: USER_AGENT });
  }

  /** GET /v2/: is there a registry at all? */
  async probe(): Promise<void> {
    const response = await this.send("GET", "/v2/", undefined, {});
    response.body.resume();
    const speaksDistribution =
      response.headers.get("docker-distribution-api-version") !== null || (response.status === 401 && response.headers.get("www-authenticate") !== null) || response.status === 200;
    if (!speaksDistribution) {
      throw new ImportError("NotARegistry", `${this.registry} does not answer the registry API (GET /v2/ answered ${response.status}); check the source's host name`);
    }
  }

  async manifest(repository: string, reference: string): Promise<FetchedManifest | undefined> {
    const response = await this.send("GET", `/v2/${repository}/manifests/${reference}`, repository, { Accept: ACCEPT });
    if (response.status === 404) {
      response.body.resume();
      return undefined;
    }
    if (response.status !== 200) throw await this.failure(response, `GET ${repository}:${reference}`);
    let content: Buffer;
    try {
      content = await response.bytes(4 * 1024 * 1024);
    } catch (error) {
      throw new ImportError("SourceUnreachable", `${this.registry} broke off the manifest ${repository}:${reference}: ${(error as Error).message}`);
    }
    const digest = `sha256:${createHash("sha256").update(content).digest("hex")}`;
    const expected = reference.includes(":") ? reference : response.headers.get("docker-content-digest");
    if (expected && expected.startsWith("sha256:") && expected !== digest) {
      throw new ImportError("DigestMismatch", `the source's manifest ${repository}@${expected} hashes to ${digest}: the source is corrupt or was changed in transit`);
    }
    const mediaType = (response.headers.get("content-type") ?? "").split(";")[0]!.trim();
    return { digest, mediaType, content };
  }

  /** GET /v2/<repo>/referrers/<digest>: the referrers' digests; undefined when the source has no such API (404, as docker-registry 2.8). */
  async referrers(repository: string, digest: string): Promise<string[] | undefined> {
    const response = await this.send("GET", `/v2/${repository}/referrers/${digest}`, repository, { Accept: "application/vnd.oci.image.index.v1+json" });
    if (response.status === 404) {
      response.body.resume();
      return undefined;
    }
    if (response.status !== 200) throw await this.failure(response, `GET referrers of ${repository}@${digest}`);
    let index: { manifests?: Array<{ digest?: unknown }> };
    try {
      index = JSON.parse((await response.bytes(4 * 1024 * 1024)).toString("utf8")) as typeof index;
    } catch (error) {
      throw new ImportError("SourceError", `${this.registry} answered the referrers of ${repository}@${digest} with something that is not an index: ${(error as Error).message}`);
    }
    return (index.manifests ?? []).map((descriptor) => descriptor.digest).filter((value): value is string => typeof value === "string" && parseDigest(value) !== undefined);
  }

  /** The blob's bytes from `offset` on; the caller hashes them. */
  async blob(repository: string, digest: string, offset: number): Promise<{ body: AsyncIterable<Uint8Array>; restarted: boolean }> {
    const response = await this.send("GET", `/v2/${repository}/blobs/${digest}`, repository, offset > 0 ? { Range: `bytes=${offset}-` } : {});
    if (response.status === 404) {
      response.body.resume();
      throw new ImportError("SourceNotFound", `blob ${digest} of ${repository} is not in ${this.registry} although its manifest names it`);
    }
    if (response.status !== 200 && response.status !== 206) throw await this.failure(response, `GET blob ${digest}`);
    // A source that ignores Range sends everything again: the caller starts over.
    return { body: response.body, restarted: offset > 0 && response.status === 200 };
  }

  close(): void {
    this.client.close();
    for (const client of this.realmClients.values()) client.close();
  }

  /** One request, answering the auth challenge once when there is one. */
  private async send(method: string, path: string, repository: string | undefined, headers: Record<string, string>): Promise<RemoteResponse> {
    const known = repository ? this.authorizations.get(repository) : undefined;
    const first = await this.request(method, path, headers, known && known.until > Date.now() ? known.value : null);
    if (first.status !== 401) return first;
    const challenge = first.headers.get("www-authenticate") ?? "";
    first.body.resume();
    const authorization = await this.answer(challenge, repository);
    if (!authorization) {
      if (path === "/v2/") return first;
      throw new ImportError("AuthenticationFailed", `Authentication failed for ${this.registry}: it asks for credentials${this.credentials ? " and refused the username and password given" : "; give username and password"}`);
    }
    const second = await this.request(method, path, headers, authorization.value);
    if (second.status === 401 || second.status === 403) {
      second.body.resume();
      throw new ImportError("AuthenticationFailed", `Authentication failed for ${this.registry}: the credentials do not give access to ${repository ?? "the registry"}`);
    }
    if (repository) this.authorizations.set(repository, authorization);
    return second;
  }

  private async request(method: string, path: string, headers: Record<string, string>, authorization: string | null): Promise<RemoteResponse> {
    try {
      return await this.client.request(method, path, { headers, authorization });
    } catch (error) {
      if (error instanceof RemoteUnreachableError) {
        // No such host name: DNS answered, and will answer the same on every retry (EAI_AGAIN, a DNS failure, is retried).
        if (error.code === "ENOTFOUND") throw new ImportError("SourceUnreachable", `cannot reach ${this.registry}: no host has that name (${error.message}); check the source's registry name`, { final: true });
        throw new ImportError("SourceUnreachable", `cannot reach ${this.registry}: ${error.message}`);
      }
      throw error;
    }
  }

  /** The Authorization header the challenge asks for, or undefined when it cannot be met. */
  private async answer(challenge: string, repository: string | undefined): Promise<{ value: string; until: number } | undefined> {
    const scheme = challenge.split(" ")[0]?.toLowerCase();
    const basic = this.credentials ? `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString("base64")}` : undefined;
    if (scheme === "basic") return basic ? { value: basic, until: Number.MAX_SAFE_INTEGER } : undefined;
    if (scheme !== "bearer") return undefined;
    const params = parseChallenge(challenge);
    if (!params.realm) return undefined;
    const realm = new URL(params.realm);
    const query = new URLSearchParams();
    if (params.service) query.set("service", params.service);
    if (repository) query.set("scope", `repository:${repository}:pull`);
    else if (params.scope) query.set("scope", params.scope);
    if (this.credentials) query.set("account", this.credentials.username);
    const client = this.realmClient(realm);
    let response: RemoteResponse;
    try {
      response = await client.request("GET", `${realm.pathname}?${query}`, { authorization: basic ?? null, headers: { Accept: "application/json" } });
    } catch (error) {
      if (error instanceof RemoteUnreachableError) throw new ImportError("SourceUnreachable", `cannot reach ${realm.origin}, the token server of ${this.registry}: ${error.message}`);
      throw error;
    }
    if (response.status === 401 || response.status === 403) {
      response.body.resume();
      throw new ImportError("AuthenticationFailed", `Authentication failed for ${this.registry}: its token server ${realm.host} refused the ${this.credentials ? "username and password given" : "anonymous request; give username and password"}`);
    }
    if (response.status !== 200) throw await this.failure(response, `token from ${realm.host}`);
    const body = await response.json<{ token?: string; access_token?: string; expires_in?: number }>();
    const token = body.token ?? body.access_token;
    if (!token) throw new ImportError("SourceError", `the token server of ${this.registry} answered without a token`);
    // Renewed a little before it expires (60 s is the spec's default lifetime).
    return { value: `Bearer ${token}`, until: Date.now() + Math.max((body.expires_in ?? 60) - 10, 5) * 1000 };
  }

  private realmClient(realm: URL): RegistryHttpClient {
    let client = this.realmClients.get(realm.origin);
    if (!client) {
      client = new RegistryHttpClient({ protocol: realm.protocol === "http:" ? "http" : "https", endpoint: realm.host, userAgent: USER_AGENT });
      this.realmClients.set(realm.origin, client);
    }
    return client;
  }

  private async failure(response: RemoteResponse, what: string): Promise<ImportError> {
    const error = await RemoteError.fromResponse(response, `${this.registry}: ${what}`);
    if (response.status === 401 || response.status === 403) return new ImportError("AuthenticationFailed", `Authentication failed for ${this.registry}: ${error.message}`);
    // Worth another try: the source is overloaded or restarting.
    if (response.status >= 500 || response.status === 429) return new ImportError("SourceUnreachable", error.message);
    return new ImportError("SourceError", error.message);
  }
}

/** `Bearer realm="...",service="...",scope="..."` -> its parameters. */
export function parseChallenge(header: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of header.matchAll(/(\w+)="([^"]*)"/g)) params[match[1]!.toLowerCase()] = match[2]!;
  return params;
}

function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, "");
  return host === "localhost" || host === "127.0.0.1" || host === "[::1]";
}
