/**
 * Manifest parsing: turns the bytes a client PUTs into what the registry must check and
 * remember (the blobs and child manifests it needs, its subject, its artifact type).
 * The bytes themselves are stored and served unchanged: digests stay byte-identical.
 */
import { z } from "zod";
import { isDigest } from "./digest.js";
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
  bareMediaType,
  isManifestMediaType,
  isNonDistributableLayer,
  type ManifestMediaType,
} from "./media-types.js";

/** The OCI spec's recommended limit; distribution uses the same. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const digestString = z.string().refine(isDigest, { message: "is not a valid digest" });
const annotations = z.record(z.string(), z.string());

export const descriptorSchema = z.object({
  mediaType: z.string().min(1),
  digest: digestString,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  artifactType: z.string().optional(),
  platform: z.record(z.string(), z.unknown()).optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

const imageManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: annotations.optional(),
});

const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: annotations.optional(),
});

export interface ParsedManifest {
  mediaType: ManifestMediaType;
  /** Blobs (config and layers) that must exist in the repository. */
  blobDigests: string[];
  /** Manifests an index or manifest list names; they must exist in the repository. */
  manifestDigests: string[];
  subject?: Descriptor;
  /** What the referrers API reports: `artifactType`, else the config's media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

export class ManifestParseError extends Error {}

/**
 * Decides the manifest's media type from the request's Content-Type and the body's own
 * `mediaType` field, then validates the body against that type's schema.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new ManifestParseError("manifest is not valid UTF-8 JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ManifestParseError("manifest must be a JSON object");
  }
  const declared = (json as { mediaType?: unknown }).mediaType;
  if (declared !== undefined && typeof declared !== "string") {
    throw new ManifestParseError("manifest mediaType must be a string");
  }
  const headerType = contentType ? bareMediaType(contentType) : "";
  const mediaType = resolveMediaType(headerType, declared, json);

  if (mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST) {
    const index = validate(indexSchema, json, mediaType);
    return {
      mediaType,
      blobDigests: [],
      manifestDigests: index.manifests.map((m) => m.digest),
      ...(index.subject ? { subject: index.subject } : {}),
      ...(index.artifactType ? { artifactType: index.artifactType } : {}),
      ...(index.annotations ? { annotations: index.annotations } : {}),
    };
  }
  const manifest = validate(imageManifestSchema, json, mediaType);
  const storedLayers = manifest.layers.filter((layer) => !isNonDistributableLayer(layer.mediaType));
  return {
    mediaType,
    blobDigests: [manifest.config.digest, ...storedLayers.map((layer) => layer.digest)],
    manifestDigests: [],
    ...(manifest.subject ? { subject: manifest.subject } : {}),
    artifactType: manifest.artifactType ?? manifest.config.mediaType,
    ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
  };
}

function resolveMediaType(headerType: string, declared: string | undefined, json: object): ManifestMediaType {
  if (declared !== undefined && !isManifestMediaType(declared)) {
    throw new ManifestParseError(`manifest mediaType "${declared}" is not a supported manifest type`);
  }
  if (isManifestMediaType(headerType)) {
    if (declared !== undefined && declared !== headerType) {
      throw new ManifestParseError(
        `Content-Type "${headerType}" does not match the manifest's mediaType "${declared}"`,
      );
    }
    return headerType;
  }
  if (declared !== undefined) return declared;
  // An OCI manifest may omit mediaType; infer it from its shape as the spec allows.
  if ("manifests" in json) return OCI_INDEX;
  if ("config" in json) return OCI_MANIFEST;
  throw new ManifestParseError("cannot tell the manifest's media type: set Content-Type or mediaType");
}

function validate<T>(schema: z.ZodType<T>, json: unknown, mediaType: string): T {
  const result = schema.safeParse(json);
  if (result.success) {
    if ((mediaType === DOCKER_MANIFEST || mediaType === DOCKER_MANIFEST_LIST) && !("mediaType" in (json as object))) {
      throw new ManifestParseError(`a ${mediaType} manifest must carry its mediaType field`);
    }
    return result.data;
  }
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
  throw new ManifestParseError(`invalid ${mediaType}${where}: ${issue?.message ?? "does not match the schema"}`);
}
