/** Small helpers that speak the OCI Distribution API over real HTTP, for integration tests. */
import { createHash, randomBytes } from "node:crypto";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export interface PushedImage {
  manifest: Buffer;
  digest: string;
  configDigest: string;
  layerDigest: string;
}

export class RegistryClient {
  constructor(readonly baseUrl: string) {}

  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.baseUrl}${path}`, { redirect: "manual", ...init });
  }

  /** Monolithic upload: POST ?digest= with the whole body. */
  async pushBlob(repository: string, bytes: Uint8Array): Promise<string> {
    const digest = sha256(bytes);
    const response = await this.fetch(`/v2/${repository}/blobs/uploads/?digest=${digest}`, {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: bytes,
    });
    if (response.status !== 201) throw new Error(`blob push answered ${response.status}: ${await response.text()}`);
    return digest;
  }

  async putManifest(repository: string, reference: string, manifest: object | Buffer, mediaType = OCI_MANIFEST): Promise<Response> {
    return this.fetch(`/v2/${repository}/manifests/${reference}`, {
      method: "PUT",
      headers: { "Content-Type": mediaType },
      body: Buffer.isBuffer(manifest) ? manifest : JSON.stringify(manifest),
    });
  }

  /** Pushes a one-layer OCI image with random content and tags it. */
  async pushImage(repository: string, tag: string, extra: Record<string, unknown> = {}): Promise<PushedImage> {
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") }));
    const layer = randomBytes(1024);
    const configDigest = await this.pushBlob(repository, config);
    const layerDigest = await this.pushBlob(repository, layer);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest, size: layer.length }],
        ...extra,
      }),
    );
    const response = await this.putManifest(repository, tag, manifest);
    if (response.status !== 201) throw new Error(`manifest push answered ${response.status}: ${await response.text()}`);
    return { manifest, digest: sha256(manifest), configDigest, layerDigest };
  }

  /**
   * Pushes an OCI artifact (empty config, one random layer) whose `subject` is the given
   * manifest, by digest: a signature, SBOM or attestation as notation/oras push them.
   */
  async pushArtifact(
    repository: string,
    subject: { digest: string; size: number; mediaType: string },
    artifactType: string,
    annotations?: Record<string, string>,
  ): Promise<{ digest: string; size: number; mediaType: string }> {
    const empty = await this.pushBlob(repository, Buffer.from("{}"));
    const payload = randomBytes(64);
    const blob = await this.pushBlob(repository, payload);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType,
        config: { mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 },
        layers: [{ mediaType: "application/octet-stream", digest: blob, size: payload.length }],
        subject,
        ...(annotations ? { annotations } : {}),
      }),
    );
    const digest = sha256(manifest);
    const response = await this.putManifest(repository, digest, manifest);
    if (response.status !== 201) throw new Error(`artifact push answered ${response.status}: ${await response.text()}`);
    return { digest, size: manifest.length, mediaType: OCI_MANIFEST };
  }

  /** Reads a blob, following the 307 to storage if the registry redirects. */
  async getBlob(repository: string, digest: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.baseUrl}/v2/${repository}/blobs/${digest}`, { headers });
  }
}

/** A registry client that sends one Authorization header (Basic or Bearer) with every request. */
export class AuthorizedClient extends RegistryClient {
  constructor(
    baseUrl: string,
    private readonly authorization: string,
  ) {
    super(baseUrl);
  }

  override fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("Authorization", this.authorization);
    return super.fetch(path, { ...init, headers });
  }
}

export const basicAuthorization = (username: string, password: string): string => `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;

export async function errorCode(response: Response): Promise<string | undefined> {
  const body = (await response.json()) as { errors?: Array<{ code: string }> };
  return body.errors?.[0]?.code;
}
