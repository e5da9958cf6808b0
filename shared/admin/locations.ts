/**
 * "Where is it" in the management API (docs/admin-api.md, "Locations"): which connected
 * registries hold a tag or a manifest, from the inventories the edges report
 * (docs/sync-protocol.md, section 6). An edge's answer is as fresh as its last accepted
 * inventory (`reportedAt`); edges whose agents predate inventories are simply not listed.
 */
import type { MetadataStore } from "../store/interfaces.js";
import type { ConnectedRegistryRecord, ConnectedRegistryStore } from "../store/connected-registry-store.js";
import type { EdgeInventoryStore } from "../store/edge-inventory-store.js";

export interface TagLocation {
  connectedRegistry: string;
  /** What the edge's tag points at. */
  digest: string;
  /** True when that is what the tag points at in this registry. */
  matches: boolean;
  reportedAt: string;
  /** The edge's inventory was cut at the limit: what it lacks may still be on the edge. */
  truncated: boolean;
}

export interface ManifestLocation extends TagLocation {
  /** The edge's tags pointing at the manifest; `matches` says each of them points at it here too. */
  tags: string[];
}

export class LocationService {
  constructor(
    private readonly registries: ConnectedRegistryStore,
    private readonly inventories: EdgeInventoryStore,
    private readonly metadata: Pick<MetadataStore, "getTaggedManifest">,
  ) {}

  async ofTag(repository: string, tag: string): Promise<{ digest: string | null; value: TagLocation[] }> {
    const [here, held] = await Promise.all([this.metadata.getTaggedManifest(repository, tag), this.held(repository)]);
    const digest = here?.digest ?? null;
    const value = held.flatMap(({ record, inventory, tags }) => {
      const edgeDigest = tags[tag];
      return edgeDigest ? [{ connectedRegistry: record.name, digest: edgeDigest, matches: edgeDigest === digest, reportedAt: inventory.reportedAt, truncated: inventory.truncated }] : [];
    });
    return { digest, value };
  }

  async ofManifest(repository: string, digest: string): Promise<{ value: ManifestLocation[] }> {
    const held = await this.held(repository);
    const cloudTags = new Map<string, string | null>();
    const value: ManifestLocation[] = [];
    for (const { record, inventory, tags } of held) {
      const names = Object.keys(tags).filter((tag) => tags[tag] === digest).sort();
      if (names.length === 0) continue;
      for (const tag of names) if (!cloudTags.has(tag)) cloudTags.set(tag, (await this.metadata.getTaggedManifest(repository, tag))?.digest ?? null);
      const matches = names.every((tag) => cloudTags.get(tag) === digest);
      value.push({ connectedRegistry: record.name, digest, tags: names, matches, reportedAt: inventory.reportedAt, truncated: inventory.truncated });
    }
    return { value };
  }

  /** Each edge's current inventory of the repository (entries of an older or unfinished upload left out), by edge name. */
  private async held(repository: string): Promise<Array<{ record: ConnectedRegistryRecord; inventory: NonNullable<ConnectedRegistryRecord["inventory"]>; tags: Record<string, string> }>> {
    const [records, entries] = await Promise.all([this.registries.list(), this.inventories.forRepository(repository)]);
    const byName = new Map(records.map((record) => [record.name, record]));
    const tagsByEdge = new Map<string, Record<string, string>>();
    for (const entry of entries) {
      const record = byName.get(entry.connectedRegistry);
      if (!record?.inventory || record.inventory.digest !== entry.generation) continue;
      tagsByEdge.set(entry.connectedRegistry, { ...tagsByEdge.get(entry.connectedRegistry), ...entry.tags });
    }
    return [...tagsByEdge.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, tags]) => ({ record: byName.get(name)!, inventory: byName.get(name)!.inventory!, tags }));
  }
}
