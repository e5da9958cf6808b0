/**
 * The inventory upload (docs/sync-protocol.md, section 6, "Inventory"): the edge's tags and
 * digests, sent when the parent's status answer says `inventoryWanted`. The content is checked
 * against the digest it claims, written under that digest, then named on the connected
 * registry's record; older generations are deleted last, so a crash anywhere leaves either the
 * old inventory or the new one readable, never a mix.
 */
import { edgeInventorySchema, inventoryDigest, inventoryTagCount, MAX_INVENTORY_BODY_BYTES, MAX_INVENTORY_TAGS } from "../domain/connected-registry/index.js";
import { readJson } from "../http/json-body.js";
import type { ConnectedRegistryRecord } from "../store/connected-registry-store.js";
import type { EdgeInventoryStore } from "../store/edge-inventory-store.js";
import { SyncError } from "./errors.js";

type InventoryPointer = NonNullable<ConnectedRegistryRecord["inventory"]>;

export interface InventoryUpload {
  name: string;
  store: EdgeInventoryStore;
  now: () => number;
  /** Throws unless the instance holds the activation. */
  check: (instanceId: string) => Promise<void>;
}

export async function acceptInventory(
  body: AsyncIterable<Uint8Array> | null,
  upload: InventoryUpload,
  point: (pointer: InventoryPointer) => Promise<ConnectedRegistryRecord>,
): Promise<{ accepted: true; digest: string; tags: number }> {
  const input = await readJson(body, edgeInventorySchema, MAX_INVENTORY_BODY_BYTES);
  await upload.check(input.instanceId);
  const content = { repositories: input.repositories, truncated: input.truncated };
  const tags = inventoryTagCount(content);
  if (tags > MAX_INVENTORY_TAGS) throw new SyncError("INVALID_REQUEST", `the inventory holds ${tags} tags; send at most ${MAX_INVENTORY_TAGS} and set truncated`);
  const computed = inventoryDigest(content);
  if (computed !== input.digest) {
    throw new SyncError("INVALID_REQUEST", `the inventory's content has digest ${computed}, not the ${input.digest} it claims; compute it over the canonical form (docs/sync-protocol.md, section 6)`);
  }
  await upload.store.write(upload.name, input.digest, content);
  await point({ digest: input.digest, reportedAt: new Date(upload.now()).toISOString(), tags, truncated: input.truncated });
  await upload.store.prune(upload.name, input.digest);
  return { accepted: true, digest: input.digest, tags };
}
