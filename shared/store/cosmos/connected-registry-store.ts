/**
 * ConnectedRegistryStore on Cosmos DB: documents `connectedRegistry:<name>` of type
 * "connectedRegistry" in the "identity" container, next to the registry's scope maps and
 * tokens (partition "/registry"). Replace is etag-checked, as for scope maps and tokens.
 */
import type { Container, ItemDefinition, SqlParameter } from "@azure/cosmos";
import { AlreadyExistsError } from "../identity-store.js";
import { ConcurrentUpdateError } from "../interfaces.js";
import type { ConnectedRegistryRecord, ConnectedRegistryStore } from "../connected-registry-store.js";
import { cosmosStatus } from "./status.js";

const TYPE = "connectedRegistry";

type Document = ItemDefinition & Omit<ConnectedRegistryRecord, "version"> & { id: string; registry: string; type: typeof TYPE };

export class CosmosConnectedRegistryStore implements ConnectedRegistryStore {
  constructor(
    private readonly container: Container,
    private readonly registry: string,
  ) {}

  async get(name: string): Promise<ConnectedRegistryRecord | undefined> {
    const { resource } = await this.container.item(documentId(name), this.registry).read<Document>();
    return resource ? fromDocument(resource) : undefined;
  }

  list(): Promise<ConnectedRegistryRecord[]> {
    return this.listWhere("");
  }

  listChildren(parent: string): Promise<ConnectedRegistryRecord[]> {
    return this.listWhere(" AND c.parent = @parent", [{ name: "@parent", value: parent }]);
  }

  async create(record: ConnectedRegistryRecord): Promise<ConnectedRegistryRecord> {
    try {
      const { resource } = await this.container.items.create<Document>(this.toDocument(record));
      if (!resource) throw new Error("Cosmos DB returned no document for the created connected registry");
      return fromDocument(resource);
    } catch (error) {
      if (cosmosStatus(error) === 409) throw new AlreadyExistsError(`connected registry "${record.name}" already exists`);
      throw error;
    }
  }

  async replace(record: ConnectedRegistryRecord): Promise<ConnectedRegistryRecord> {
    try {
      const { resource } = await this.container
        .item(documentId(record.name), this.registry)
        .replace<Document>(this.toDocument(record), record.version ? { accessCondition: { type: "IfMatch", condition: record.version } } : {});
      if (!resource) throw new Error("Cosmos DB returned no document for the replaced connected registry");
      return fromDocument(resource);
    } catch (error) {
      if (cosmosStatus(error) === 412 || cosmosStatus(error) === 404) {
        throw new ConcurrentUpdateError(`connected registry "${record.name}" changed while this request ran`);
      }
      throw error;
    }
  }

  async delete(name: string): Promise<boolean> {
    try {
      await this.container.item(documentId(name), this.registry).delete();
      return true;
    } catch (error) {
      if (cosmosStatus(error) === 404) return false;
      throw error;
    }
  }

  /** This registry's connected registries matching `condition` (ANDed to the registry and type), by name. */
  private async listWhere(condition: string, parameters: SqlParameter[] = []): Promise<ConnectedRegistryRecord[]> {
    const { resources } = await this.container.items
      .query<Document>({
        query: `SELECT * FROM c WHERE c.registry = @registry AND c.type = @type${condition} ORDER BY c.name`,
        parameters: [{ name: "@registry", value: this.registry }, { name: "@type", value: TYPE }, ...parameters],
      })
      .fetchAll();
    return resources.map(fromDocument);
  }

  private toDocument(record: ConnectedRegistryRecord): Document {
    const { version: _version, ...fields } = record;
    return { ...fields, id: documentId(record.name), registry: this.registry, type: TYPE };
  }
}

function documentId(name: string): string {
  return `${TYPE}:${name}`;
}

function fromDocument(document: Document): ConnectedRegistryRecord {
  const { id: _id, registry: _registry, type: _type, _rid, _self, _etag, _ts, _attachments, ...fields } = document as Document & {
    _rid?: string;
    _self?: string;
    _etag?: string;
    _ts?: number;
    _attachments?: string;
  };
  return { ...fields, ...(_etag ? { version: _etag } : {}) };
}
