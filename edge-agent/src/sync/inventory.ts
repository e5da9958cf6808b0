/**
 * What this edge holds, for its parent's "where is it" (docs/sync-protocol.md, section 6,
 * "Inventory"): every repository's tags with their manifest digests, bounded and digested as
 * shared/domain/connected-registry/edge-inventory.ts says. Reading it walks every tag file, so
 * it is recomputed only when the store's tag-change counter moved since the last reading (the
 * store counts the writes of this process; nothing else writes the data folder while it runs).
 */
import { boundedInventory, inventoryDigest, MAX_INVENTORY_TAGS, type InventoryContent } from "../../../shared/domain/connected-registry/index.js";
import type { MetadataStore } from "../../../shared/store/interfaces.js";
import { listAll } from "./list-all.js";

export type CountedMetadata = Pick<MetadataStore, "listRepositories" | "listTags" | "getTaggedManifest"> & { readonly tagChanges: number };

export interface CurrentInventory {
  content: InventoryContent;
  digest: string;
}

export class InventorySource {
  private cached?: { changes: number; inventory: CurrentInventory };

  constructor(
    private readonly metadata: CountedMetadata,
    private readonly limit = MAX_INVENTORY_TAGS,
  ) {}

  /** True when tags changed since the inventory was last read (or it never was): a reason to report. */
  get stale(): boolean {
    return this.cached?.changes !== this.metadata.tagChanges;
  }

  async current(): Promise<CurrentInventory> {
    const changes = this.metadata.tagChanges;
    if (this.cached?.changes === changes) return this.cached.inventory;
    const entries: Array<{ repository: string; tag: string; digest: string }> = [];
    // Listings come in code-unit order, the inventory's order: one entry past the limit says it is truncated.
    walk: for (const repository of await listAll((page) => this.metadata.listRepositories(page))) {
      for (const tag of await listAll((page) => this.metadata.listTags(repository, page))) {
        const manifest = await this.metadata.getTaggedManifest(repository, tag);
        if (manifest) entries.push({ repository, tag, digest: manifest.digest });
        if (entries.length > this.limit) break walk;
      }
    }
    const content = boundedInventory(entries, this.limit);
    const inventory = { content, digest: inventoryDigest(content) };
    this.cached = { changes, inventory };
    return inventory;
  }
}

export function countsTagChanges(metadata: MetadataStore): metadata is MetadataStore & CountedMetadata {
  return typeof (metadata as Partial<CountedMetadata>).tagChanges === "number";
}
