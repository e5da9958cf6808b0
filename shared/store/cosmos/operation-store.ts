/**
 * OperationStore on Cosmos DB: container "operations", partition "/registry", one document
 * per operation. Ended operations carry a TTL of 7 days (Cosmos removes them).
 */
import type { Container, ItemDefinition } from "@azure/cosmos";
import { ConcurrentUpdateError } from "../interfaces.js";
import type { ImportOperation, OperationStore } from "../operation-store.js";
import { cosmosStatus } from "./status.js";

const ENDED_TTL_SECONDS = 7 * 24 * 60 * 60;

type Document = ItemDefinition & Omit<ImportOperation, "version"> & { registry: string; ttl?: number };

export class CosmosOperationStore implements OperationStore {
  constructor(
    private readonly container: Container,
    private readonly registry: string,
  ) {}

  async create(operation: ImportOperation): Promise<ImportOperation> {
    const { resource } = await this.container.items.create<Document>(this.toDocument(operation));
    if (!resource) throw new Error("Cosmos DB returned no document for the created operation");
    return fromDocument(resource);
  }

  async get(id: string): Promise<ImportOperation | undefined> {
    const { resource } = await this.container.item(id, this.registry).read<Document>();
    return resource ? fromDocument(resource) : undefined;
  }

  async replace(operation: ImportOperation): Promise<ImportOperation> {
    try {
      const { resource } = await this.container
        .item(operation.id, this.registry)
        .replace<Document>(this.toDocument(operation), operation.version ? { accessCondition: { type: "IfMatch", condition: operation.version } } : {});
      if (!resource) throw new Error("Cosmos DB returned no document for the replaced operation");
      return fromDocument(resource);
    } catch (error) {
      if (cosmosStatus(error) === 412) throw new ConcurrentUpdateError(`operation ${operation.id} changed while this worker ran`);
      throw error;
    }
  }

  async listStale(before: Date, limit: number): Promise<ImportOperation[]> {
    const { resources } = await this.container.items
      .query<Document>({
        query: "SELECT * FROM c WHERE c.registry = @registry AND c.status = 'Running' AND c.updatedAt < @before",
        parameters: [
          { name: "@registry", value: this.registry },
          { name: "@before", value: before.toISOString() },
        ],
      })
      .fetchAll();
    return resources.slice(0, limit).map(fromDocument);
  }

  private toDocument(operation: ImportOperation): Document {
    const { version: _version, ...fields } = operation;
    return { ...fields, registry: this.registry, ...(operation.status === "Running" ? {} : { ttl: ENDED_TTL_SECONDS }) };
  }
}

function fromDocument(document: Document): ImportOperation {
  const { registry: _registry, ttl: _ttl, _rid, _self, _etag, _attachments, _ts, ...fields } = document as Document & Record<string, unknown>;
  return { ...(fields as unknown as ImportOperation), ...(_etag ? { version: String(_etag) } : {}) };
}
