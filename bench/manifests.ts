/**
 * Manifest GET throughput: a small OCI image (config + one layer + manifest under a tag)
 * is pushed, then GET /v2/<repo>/manifests/<tag> is sent back to back over a fixed
 * number of keep-alive connections for a fixed time, bounded by a request count too.
 */
import { randomBytes } from "node:crypto";
import type { Agent, OutgoingHttpHeaders } from "node:http";
import { pushBlobMonolithic } from "./blobs.js";
import { call, expectStatus } from "./http.js";
import { loadGets, type LoadOptions, type LoadResult } from "./load.js";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

export type ManifestLoadOptions = LoadOptions;
/** failures: responses (warm-up included) that were not 200 with the pushed manifest's bytes. */
export type ManifestLoadResult = LoadResult;

/** Pushes a one-layer OCI image under `tag`; returns the manifest's bytes. */
export async function pushSmallImage(base: URL, repository: string, tag: string, agent: Agent, headers: OutgoingHttpHeaders = {}): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") }));
  const layer = randomBytes(4096);
  const configDigest = await pushBlobMonolithic(base, repository, config, agent, headers);
  const layerDigest = await pushBlobMonolithic(base, repository, layer, agent, headers);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest, size: layer.length }],
    }),
  );
  const response = await call(new URL(`/v2/${repository}/manifests/${tag}`, base), {
    method: "PUT",
    agent,
    timeoutMs: 30_000,
    headers: { ...headers, "content-type": OCI_MANIFEST },
    body: manifest,
  });
  expectStatus(response, 201, "PUT manifest");
  return manifest;
}

export async function loadManifestGets(
  base: URL,
  repository: string,
  tag: string,
  expected: Buffer,
  options: ManifestLoadOptions,
  headers: OutgoingHttpHeaders = {},
): Promise<ManifestLoadResult> {
  const { result } = await loadManifestRound(base, repository, tag, expected, options, headers);
  return result;
}

/** The same load, with the recorded latencies (for percentiles over several rounds). */
export function loadManifestRound(
  base: URL,
  repository: string,
  tag: string,
  expected: Buffer,
  options: ManifestLoadOptions,
  headers: OutgoingHttpHeaders = {},
): Promise<{ result: ManifestLoadResult; latenciesMs: Float64Array }> {
  return loadGets(new URL(`/v2/${repository}/manifests/${tag}`, base), { accept: OCI_MANIFEST, ...headers }, (status, body) =>
    status === 200 && body.equals(expected) ? undefined : `status ${status}: ${body.toString("utf8").slice(0, 300)}`, options);
}
