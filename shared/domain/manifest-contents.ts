/**
 * What a stored manifest is made of, for people to look at (the management API's manifest
 * view): an image's config and layers, an index's child manifests with their platforms.
 * The manifest was validated when it was pushed; this only reads the descriptors back.
 */
import { z } from "zod";
import { descriptorSchema, type Descriptor } from "./manifest.js";

const contentsSchema = z.object({
  config: descriptorSchema.optional(),
  layers: z.array(descriptorSchema).optional(),
  manifests: z.array(descriptorSchema).optional(),
});

export type ManifestContents =
  | { kind: "image"; config: Descriptor; layers: Descriptor[] }
  | { kind: "index"; manifests: Descriptor[] }
  | { kind: "unknown" };

export function readManifestContents(bytes: Uint8Array): ManifestContents {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return { kind: "unknown" };
  }
  const parsed = contentsSchema.safeParse(json);
  if (!parsed.success) return { kind: "unknown" };
  const { config, layers, manifests } = parsed.data;
  if (manifests) return { kind: "index", manifests };
  if (config) return { kind: "image", config, layers: layers ?? [] };
  return { kind: "unknown" };
}

/** Config plus layers, each distinct blob counted once (a layer repeated in an image is stored once). */
export function blobTotal(descriptors: Iterable<Pick<Descriptor, "digest" | "size">>): number {
  const sizes = new Map<string, number>();
  for (const { digest, size } of descriptors) sizes.set(digest, size);
  let total = 0;
  for (const size of sizes.values()) total += size;
  return total;
}
