/**
 * ChangeStore on Cosmos DB: container "changes", partition "/registry". The sequence is
 * a counter document incremented by an atomic patch; entries are "change:<seq>" (created,
 * never upserted, so a number can be used once). Entries carry a Cosmos TTL of the
 * longest message TTL; the local server ignores TTL, so a timer also removes them.
 * The sequence document also holds the log's epoch: random when the document is made, so a
 * rebuilt log (a new account, a deleted container) is told apart from the one cursors read.
 */
import type { Container } from "@azure/cosmos";
import { CHANGE_RETENTION_SECONDS } from "../../domain/retention.js";
import { SequenceTakenError, newEpoch, type ChangeEntry, type ChangeStore, type LogHead } from "../change-store.js";
import { cosmosStatus } from "./status.js";

export class CosmosChangeStore implements ChangeStore {
  constructor(
    private readonly container: Container,
    private readonly registry: string,
  ) {}

  async nextSequence(): Promise<number> {
    const sequence = this.container.item("sequence", this.registry);
    for (let attempt = 0; ; attempt++) {
      try {
        const { resource } = await sequence.patch<{ value: number }>([{ op: "incr", path: "/value", value: 1 }]);
        if (!resource) throw new Error("Cosmos DB returned no sequence document");
        return resource.value;
      } catch (error) {
        if (cosmosStatus(error) !== 404 || attempt > 0) throw error;
        await this.createSequence();
      }
    }
  }

  async latestSequence(): Promise<number> {
    const { resource } = await this.container.item("sequence", this.registry).read<{ value: number }>();
    return resource?.value ?? 0;
  }

  async head(): Promise<LogHead> {
    const sequence = this.container.item("sequence", this.registry);
    for (let attempt = 0; attempt < 3; attempt++) {
      const { resource } = await sequence.read<{ value: number; epoch?: string }>();
      if (!resource) {
        await this.createSequence();
        continue;
      }
      if (resource.epoch) return { seq: resource.value, epoch: resource.epoch };
      // A log from before epochs: give it one, once (the condition loses to a concurrent reader's).
      try {
        await sequence.patch({ condition: "from c where NOT IS_DEFINED(c.epoch)", operations: [{ op: "add", path: "/epoch", value: newEpoch() }] });
      } catch (error) {
        if (cosmosStatus(error) !== 412) throw error;
      }
    }
    throw new Error("the change log's sequence document keeps changing under this read");
  }

  async startEpoch(): Promise<string> {
    await this.head();
    const epoch = newEpoch();
    await this.container.item("sequence", this.registry).patch([{ op: "set", path: "/epoch", value: epoch }]);
    return epoch;
  }

  private async createSequence(): Promise<void> {
    try {
      await this.container.items.create({ id: "sequence", registry: this.registry, type: "sequence", value: 0, epoch: newEpoch() });
    } catch (error) {
      if (cosmosStatus(error) !== 409) throw error;
    }
  }

  async create(entry: ChangeEntry): Promise<void> {
    try {
      await this.container.items.create({ ...entry, id: `change:${entry.seq}`, registry: this.registry, type: "change", ttl: CHANGE_RETENTION_SECONDS });
    } catch (error) {
      if (cosmosStatus(error) === 409) throw new SequenceTakenError(`change ${entry.seq} already exists`);
      throw error;
    }
  }

  async markCommitted(seq: number): Promise<void> {
    await this.container.item(`change:${seq}`, this.registry).patch([{ op: "set", path: "/state", value: "committed" }]);
  }

  async readAfter(after: number, limit: number): Promise<ChangeEntry[]> {
    const { resources } = await this.container.items
      .query<ChangeEntry>({
        query: `SELECT TOP ${Math.floor(limit)} c.seq, c.state, c.createdAt, c.stamp, c.repository, c.kind, c.digest, c.tag, c.mediaType, c.source FROM c WHERE c.registry = @registry AND c.type = "change" AND c.seq > @after ORDER BY c.seq`,
        parameters: [
          { name: "@registry", value: this.registry },
          { name: "@after", value: after },
        ],
      })
      .fetchAll();
    return resources.map(withoutUndefined);
  }

  async readRange(first: number, last: number): Promise<ChangeEntry[]> {
    const reads = [];
    for (let seq = first; seq <= last; seq++) reads.push(this.container.item(`change:${seq}`, this.registry).read<ChangeEntry>());
    const entries = (await Promise.all(reads)).flatMap(({ resource }) => (resource ? [resource] : []));
    return entries.map(({ seq, state, createdAt, stamp, repository, kind, digest, tag, mediaType, source }) => withoutUndefined({ seq, state, createdAt, stamp, repository, kind, digest, tag, mediaType, source } as ChangeEntry));
  }

  async deleteOlderThan(cutoff: Date, limit: number): Promise<number> {
    const { resources } = await this.container.items
      .query<{ id: string }>({
        query: `SELECT TOP ${Math.floor(limit)} c.id FROM c WHERE c.registry = @registry AND c.type = "change" AND c.createdAt < @cutoff`,
        parameters: [
          { name: "@registry", value: this.registry },
          { name: "@cutoff", value: cutoff.toISOString() },
        ],
      })
      .fetchAll();
    for (const { id } of resources) {
      try {
        await this.container.item(id, this.registry).delete();
      } catch (error) {
        if (cosmosStatus(error) !== 404) throw error;
      }
    }
    return resources.length;
  }
}

function withoutUndefined(entry: ChangeEntry): ChangeEntry {
  return Object.fromEntries(Object.entries(entry).filter(([, value]) => value !== undefined && value !== null)) as unknown as ChangeEntry;
}
