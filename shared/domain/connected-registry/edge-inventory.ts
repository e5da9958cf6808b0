/**
 * What an edge holds, as it tells its parent so the management API can say where an image is
 * (docs/sync-protocol.md, section 6, "Inventory"): every repository's tags with the manifest
 * digest each points at. The status report carries only the inventory's digest; the full
 * inventory goes up when the parent answers that its copy differs.
 *
 * The digest is sha256 over a canonical form (repositories and tags sorted, JSON without
 * spaces, the truncated flag included), so the edge and the parent compute the same value and
 * the parent can check what it received.
 */
import { createHash } from "node:crypto";
import { z } from "zod";

/** An inventory larger than this is cut (repositories and tags in sorted order) and flagged `truncated`. */
export const MAX_INVENTORY_TAGS = 50_000;
/** The upload's body limit: MAX_INVENTORY_TAGS entries of a long tag and a sha512 digest fit. */
export const MAX_INVENTORY_BODY_BYTES = 16 * 1024 * 1024;

const digestPattern = /^sha(256|384|512):[0-9a-f]{64,128}$/;

export const edgeInventorySchema = z.object({
  instanceId: z.string(),
  /** sha256:<hex> of the canonical form; the parent refuses an upload whose content does not match it. */
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, "must be sha256:<64 hex>"),
  truncated: z.boolean(),
  /** repository -> tag -> manifest digest. */
  repositories: z.record(z.string().min(1).max(256), z.record(z.string().min(1).max(128), z.string().regex(digestPattern, "must be a manifest digest"))),
});

export type EdgeInventory = z.infer<typeof edgeInventorySchema>;
export type InventoryContent = Pick<EdgeInventory, "repositories" | "truncated">;

/** Sorted repositories and tags, cut at `limit` tags. */
export function boundedInventory(entries: Iterable<{ repository: string; tag: string; digest: string }>, limit = MAX_INVENTORY_TAGS): InventoryContent {
  const sorted = [...entries].sort((a, b) => compare(a.repository, b.repository) || compare(a.tag, b.tag));
  const repositories: Record<string, Record<string, string>> = {};
  for (const entry of sorted.slice(0, limit)) (repositories[entry.repository] ??= {})[entry.tag] = entry.digest;
  return { repositories, truncated: sorted.length > limit };
}

export function inventoryDigest(content: InventoryContent): string {
  const repositories = Object.keys(content.repositories).sort(compare).map((repository) => {
    const tags = content.repositories[repository]!;
    return [repository, Object.keys(tags).sort(compare).map((tag) => [tag, tags[tag]!])];
  });
  return `sha256:${createHash("sha256").update(JSON.stringify({ repositories, truncated: content.truncated })).digest("hex")}`;
}

export function inventoryTagCount(content: InventoryContent): number {
  return Object.values(content.repositories).reduce((sum, tags) => sum + Object.keys(tags).length, 0);
}

/** Code-unit order, the same on every machine (localeCompare is not). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
