/**
 * Where the cloud keeps what each edge reported holding (docs/sync-protocol.md, section 6,
 * "Inventory"): per connected registry and repository, the tags and their digests, under the
 * generation (the inventory's digest) they came in. The connected registry's record names its
 * current generation and is written after the generation's content: a reader keeps only
 * entries whose generation is the record's, so a half-written upload is never seen.
 */
import type { InventoryContent } from "../domain/connected-registry/index.js";

export interface InventoryEntry {
  connectedRegistry: string;
  /** The inventory digest it was uploaded under. */
  generation: string;
  /** tag -> manifest digest, for one repository. */
  tags: Record<string, string>;
}

export interface EdgeInventoryStore {
  /** Writes (idempotently) one generation of an edge's inventory. */
  write(connectedRegistry: string, generation: string, content: InventoryContent): Promise<void>;
  /** Deletes an edge's entries of every generation but `keep` (all of them when undefined). */
  prune(connectedRegistry: string, keep: string | undefined): Promise<void>;
  /** Every edge's entries for one repository, of any generation. */
  forRepository(repository: string): Promise<InventoryEntry[]>;
}
