/**
 * GcIndex on the artifacts container: cross-partition queries over manifest and blob-link
 * documents, and marks in their own partition "_gc" (no repository name starts with "_").
 */
import type { Container, ItemDefinition } from "@azure/cosmos";
import type { GcIndex } from "../gc-index.js";
import { cosmosStatus } from "./status.js";

const GC_PARTITION = "_gc";

interface MarkDocument extends ItemDefinition {
  id: string;
  repository: typeof GC_PARTITION;
  type: "gcMark";
  digest: string;
  markedAt: number;
}

export class CosmosGcIndex implements GcIndex {
  constructor(private readonly container: Container) {}

  async referencedDigests(): Promise<Set<string>> {
    const referenced = new Set<string>();
    const iterator = this.container.items.query<{ digest: string; blobDigests?: string[]; manifestDigests?: string[] }>(
      'SELECT c.digest, c.blobDigests, c.manifestDigests FROM c WHERE c.type = "manifest"',
    );
    for await (const { resources } of iterator.getAsyncIterator()) {
      for (const manifest of resources) {
        referenced.add(manifest.digest);
        for (const digest of manifest.blobDigests ?? []) referenced.add(digest);
        for (const digest of manifest.manifestDigests ?? []) referenced.add(digest);
      }
    }
    return referenced;
  }

  async isReferenced(digest: string): Promise<boolean> {
    const { resources } = await this.container.items
      .query<{ id: string }>({
        query: 'SELECT TOP 1 c.id FROM c WHERE c.type = "manifest" AND (c.digest = @digest OR ARRAY_CONTAINS(c.blobDigests, @digest) OR ARRAY_CONTAINS(c.manifestDigests, @digest))',
        parameters: [{ name: "@digest", value: digest }],
      })
      .fetchAll();
    return resources.length > 0;
  }

  async linksOf(digest: string): Promise<Array<{ repository: string; usedAt?: string; version: string }>> {
    const { resources } = await this.container.items
      .query<{ repository: string; usedAt?: string; _etag: string }>({
        query: 'SELECT c.repository, c.usedAt, c._etag FROM c WHERE c.type = "blob" AND c.digest = @digest',
        parameters: [{ name: "@digest", value: digest }],
      })
      .fetchAll();
    return resources.map((link) => ({ repository: link.repository, ...(link.usedAt ? { usedAt: link.usedAt } : {}), version: link._etag }));
  }

  async deleteLink(repository: string, digest: string, version: string): Promise<boolean> {
    try {
      await this.container.item(`blob:${digest}`, repository).delete({ accessCondition: { type: "IfMatch", condition: version } });
      return true;
    } catch (error) {
      if (cosmosStatus(error) === 404 || cosmosStatus(error) === 412) return false;
      throw error;
    }
  }

  async marks(): Promise<Map<string, { markedAt: number; version: string }>> {
    const { resources } = await this.container.items
      .query<MarkDocument>({ query: "SELECT * FROM c WHERE c.repository = @partition", parameters: [{ name: "@partition", value: GC_PARTITION }] })
      .fetchAll();
    return new Map(resources.map((mark) => [mark.digest, { markedAt: mark.markedAt, version: String(mark._etag) }]));
  }

  async putMark(digest: string, markedAt: number): Promise<void> {
    const document: MarkDocument = { id: markId(digest), repository: GC_PARTITION, type: "gcMark", digest, markedAt };
    await this.container.items.upsert(document);
  }

  async deleteMark(digest: string, version?: string): Promise<boolean> {
    try {
      await this.container.item(markId(digest), GC_PARTITION).delete(version ? { accessCondition: { type: "IfMatch", condition: version } } : {});
      return true;
    } catch (error) {
      if (cosmosStatus(error) === 404 || cosmosStatus(error) === 412) return false;
      throw error;
    }
  }
}

const markId = (digest: string): string => `gc:${digest}`;
