/**
 * Manifest GET throughput: a small OCI image (config + one layer + manifest under a tag)
 * is pushed, then GET /v2/<repo>/manifests/<tag> is sent back to back over a fixed
 * number of keep-alive connections for a fixed time, bounded by a request count too.
 */
import { randomBytes } from "node:crypto";
import { Agent, request as httpRequest } from "node:http";
import { pushBlobMonolithic } from "./blobs.js";
import { assertLoopback, call, expectStatus } from "./http.js";
import { percentile } from "./stats.js";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

export interface ManifestLoadOptions {
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  maxRequests: number;
}

export interface ManifestLoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Responses (warm-up included) that were not 200 with the pushed manifest's bytes. */
  failures: number;
  firstFailure?: string;
}

/** Pushes a one-layer OCI image under `tag`; returns the manifest's bytes. */
export async function pushSmallImage(base: URL, repository: string, tag: string, agent: Agent): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") }));
  const layer = randomBytes(4096);
  const configDigest = await pushBlobMonolithic(base, repository, config, agent);
  const layerDigest = await pushBlobMonolithic(base, repository, layer, agent);
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
    headers: { "content-type": OCI_MANIFEST },
    body: manifest,
  });
  expectStatus(response, 201, "PUT manifest");
  return manifest;
}

export async function loadManifestGets(base: URL, repository: string, tag: string, expected: Buffer, options: ManifestLoadOptions): Promise<ManifestLoadResult> {
  const url = new URL(`/v2/${repository}/manifests/${tag}`, base);
  assertLoopback(url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency, maxFreeSockets: options.concurrency });
  const latencies = new Float64Array(options.maxRequests);
  let count = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  let recording = false;
  let stopAt = 0;

  const getOnce = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const req = httpRequest(url, { agent, headers: { accept: OCI_MANIFEST } }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (chunk: Buffer) => parts.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const latencyMs = Number(process.hrtime.bigint() - t0) / 1e6;
          const body = Buffer.concat(parts);
          if (res.statusCode !== 200 || !body.equals(expected)) {
            failures++;
            firstFailure ??= `status ${res.statusCode}: ${body.toString("utf8").slice(0, 300)}`;
          }
          if (recording && count < options.maxRequests) latencies[count++] = latencyMs;
          resolve();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error("manifest GET: no answer within 10 s")));
      req.on("error", reject);
      req.end();
    });

  const worker = async (): Promise<void> => {
    while (Date.now() < stopAt && count < options.maxRequests) await getOnce();
  };

  try {
    // Warm-up: opens the connections and lets caches and JITs settle; not recorded.
    stopAt = Date.now() + options.warmupMs;
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    recording = true;
    const t0 = process.hrtime.bigint();
    stopAt = Date.now() + options.durationMs;
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const requests = count;
    return {
      requests,
      seconds,
      requestsPerSecond: requests / seconds,
      p50Ms: percentile(latencies, requests, 50),
      p99Ms: percentile(latencies, requests, 99),
      maxMs: percentile(latencies, requests, 100),
      failures,
      ...(firstFailure ? { firstFailure } : {}),
    };
  } finally {
    agent.destroy();
  }
}
