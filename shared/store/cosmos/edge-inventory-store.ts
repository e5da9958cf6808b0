/**
 * EdgeInventoryStore on Cosmos DB: documents of type "edgeInventory" in the "identity"
 * container beside the connected registries, one per edge, generation, repository and part.
 * A part holds at most PART_TAGS tags, so a document stays far below Cosmos DB's 2 MB item
 * limit whatever one repository holds; "where is it" reads one repository's documents.
 */
import { createHash } from "node:crypto";
import type { Container, ItemDefinition } from "@azure/cosmos";
import type { InventoryContent } from "../../domain/connected-registry/index.js";
import type { EdgeInventoryStore, InventoryEntry } from "../edge-inventory-store.js";
import { cosmosStatus } from "./status.js";

const TYPE = "edgeInventory";
const PART_TAGS = 5_000;

interface Document extends ItemDefinition {
  id: string;
  registry: string;
  type: typeof TYPE;
  connectedRegistry: string;
  generation: string;
  repository: string;
  part: number;
  tags: Record<string, string>;
}

export class CosmosEdgeInventoryStore implements EdgeInventoryStore {
  constructor(
    private readonly container: Container,
    private readonly registry: string,
  ) {}

  async write(connectedRegistry: string, generation: string, content: InventoryContent): Promise<void> {
    const documents: Document[] = [];
    for (const [repository, tags] of Object.entries(content.repositories)) {
      const entries = Object.entries(tags);
      for (let part = 0; part * PART_TAGS < entries.length; part++) {
        documents.push({
          id: `${TYPE}:${connectedRegistry}:${generation.slice(7, 23)}:${shortHash(repository)}:${part}`,
          registry: this.registry,
          type: TYPE,
          connectedRegistry,
          generation,
          repository,
          part,
          tags: Object.fromEntries(entries.slice(part * PART_TAGS, (part + 1) * PART_TAGS)),
        });
      }
    }
    // A few at a time: an edge with hundreds of repositories should not flood the account.
    for (let index = 0; index < documents.length; index += 10) {
      await Promise.all(documents.slice(index, index + 10).map((document) => this.container.items.upsert(document)));
    }
  }

  async prune(connectedRegistry: string, keep: string | undefined): Promise<void> {
    const { resources } = await this.container.items
      .query<{ id: string; generation: string }>({
        query: "SELECT c.id, c.generation FROM c WHERE c.registry = @registry AND c.type = @type AND c.connectedRegistry = @edge",
        parameters: [
          { name: "@registry", value: this.registry },
          { name: "@type", value: TYPE },
          { name: "@edge", value: connectedRegistry },
        ],
      })
      .fetchAll();
    for (const stale of resources.filter((document) => document.generation !== keep)) {
      try {
        await this.container.item(stale.id, this.registry).delete();
      } catch (error) {
        if (cosmosStatus(error) !== 404) throw error;
      }
    }
  }

  async forRepository(repository: string): Promise<InventoryEntry[]> {
    const { resources } = await this.container.items
      .query<Document>({
        query: "SELECT * FROM c WHERE c.registry = @registry AND c.type = @type AND c.repository = @repository",
        parameters: [
          { name: "@registry", value: this.registry },
          { name: "@type", value: TYPE },
          { name: "@repository", value: repository },
        ],
      })
      .fetchAll();
    return resources.map((document) => ({ connectedRegistry: document.connectedRegistry, generation: document.generation, tags: document.tags }));
  }
}

/** Repository names hold "/", which a Cosmos DB id may not. */
function shortHash(value: string): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 16);
}
