/** Manifest media types the registry stores and serves, and Accept negotiation. */

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json";

/** Docker's foreign layers live elsewhere (their `urls`); a registry never holds them. */
export const DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/**
 * Layers clients never upload: Docker's foreign layers and OCI's (deprecated, but still to be
 * supported) non-distributable layers, in any compression.
 */
export function isNonDistributableLayer(mediaType: string): boolean {
  return mediaType === DOCKER_FOREIGN_LAYER || mediaType.startsWith("application/vnd.oci.image.layer.nondistributable.v1.tar");
}

export const MANIFEST_MEDIA_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST] as const;
export type ManifestMediaType = (typeof MANIFEST_MEDIA_TYPES)[number];

export function isManifestMediaType(value: string): value is ManifestMediaType {
  return (MANIFEST_MEDIA_TYPES as readonly string[]).includes(value);
}

export function isIndexMediaType(value: string): boolean {
  return value === OCI_INDEX || value === DOCKER_MANIFEST_LIST;
}

/** Strips parameters ("; charset=utf-8") and case from a Content-Type or Accept entry. */
export function bareMediaType(value: string): string {
  return (value.split(";")[0] ?? "").trim().toLowerCase();
}

/**
 * Whether a client that sent these Accept header values takes a manifest of this type.
 * No Accept header at all means the client takes anything (as curl does). Otherwise the
 * most specific entry that names the type decides (the type itself, then its family
 * wildcard, then `*\/*`), and `q=0` on it means "not acceptable" (RFC 9110 12.5.1).
 */
export function acceptsMediaType(acceptHeaders: readonly string[], mediaType: string): boolean {
  const entries = acceptHeaders
    .flatMap((header) => header.split(","))
    .map((entry) => ({ type: bareMediaType(entry), refused: /;\s*q\s*=\s*0(?:\.0{0,3})?\s*(?:;|$)/i.test(entry) }))
    .filter((entry) => entry.type.length > 0);
  if (entries.length === 0) return true;
  for (const candidate of [mediaType, `${mediaType.split("/")[0]}/*`, "*/*"]) {
    const matching = entries.filter((entry) => entry.type === candidate);
    if (matching.length > 0) return matching.some((entry) => !entry.refused);
  }
  return false;
}
