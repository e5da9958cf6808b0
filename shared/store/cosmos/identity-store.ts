/**
 * IdentityStore on Cosmos DB: container "identity", partition "/registry", so a registry's
 * scope maps, tokens and counters share one partition.
 *
 * Limits hold under concurrency without transactions: a create takes a slot on the
 * registry's counter first (counter-slot.ts).
 */
import type { Container, ItemDefinition } from "@azure/cosmos";
import { releaseCounterSlot, takeCounterSlot } from "./counter-slot.js";
import { ConcurrentUpdateError } from "../interfaces.js";
import {
  AlreadyExistsError,
  LimitExceededError,
  type IdentityStore,
  type IdentityUsage,
  type ScopeMapRecord,
  type TokenRecord,
} from "../identity-store.js";
import { cosmosStatus } from "./status.js";

type Kind = "scopeMap" | "token";
const counterId: Record<Kind, string> = { scopeMap: "counter:scopeMaps", token: "counter:tokens" };
const limitName = { scopeMap: "scopeMapsPerRegistry", token: "tokensPerRegistry" } as const;

interface Document extends ItemDefinition {
  id: string;
  registry: string;
  type: Kind;
}

export class CosmosIdentityStore implements IdentityStore {
  constructor(
    private readonly container: Container,
    private readonly registry: string,
  ) {}

  getScopeMap(name: string): Promise<ScopeMapRecord | undefined> {
    return this.read<ScopeMapRecord>("scopeMap", name);
  }

  listScopeMaps(): Promise<ScopeMapRecord[]> {
    return this.list<ScopeMapRecord>("scopeMap");
  }

  createScopeMap(record: ScopeMapRecord, limit: number): Promise<ScopeMapRecord> {
    return this.createCounted("scopeMap", record, limit);
  }

  replaceScopeMap(record: ScopeMapRecord): Promise<ScopeMapRecord> {
    return this.replace("scopeMap", record);
  }

  deleteScopeMap(name: string): Promise<boolean> {
    return this.deleteCounted("scopeMap", name);
  }

  async tokensUsingScopeMap(name: string): Promise<string[]> {
    const { resources } = await this.container.items
      .query<{ name: string }>({
        query: 'SELECT c.name FROM c WHERE c.registry = @registry AND c.type = "token" AND c.scopeMap = @scopeMap',
        parameters: [
          { name: "@registry", value: this.registry },
          { name: "@scopeMap", value: name },
        ],
      })
      .fetchAll();
    return resources.map((r) => r.name);
  }

  getToken(name: string): Promise<TokenRecord | undefined> {
    return this.read<TokenRecord>("token", name);
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.list<TokenRecord>("token");
  }

  createToken(record: TokenRecord, limit: number): Promise<TokenRecord> {
    return this.createCounted("token", record, limit);
  }

  replaceToken(record: TokenRecord): Promise<TokenRecord> {
    return this.replace("token", record);
  }

  deleteToken(name: string): Promise<boolean> {
    return this.deleteCounted("token", name);
  }

  async usage(): Promise<IdentityUsage> {
    const [scopeMaps, tokens] = await Promise.all([this.count("scopeMap"), this.count("token")]);
    return { scopeMaps, tokens };
  }

  private async read<T extends { name: string; version?: string }>(kind: Kind, name: string): Promise<T | undefined> {
    const { resource } = await this.container.item(`${kind}:${name}`, this.registry).read<Document & T>();
    return resource ? fromDocument<T>(resource) : undefined;
  }

  private async list<T extends { name: string; version?: string }>(kind: Kind): Promise<T[]> {
    const { resources } = await this.container.items
      .query<Document & T>({
        query: "SELECT * FROM c WHERE c.registry = @registry AND c.type = @type ORDER BY c.name",
        parameters: [
          { name: "@registry", value: this.registry },
          { name: "@type", value: kind },
        ],
      })
      .fetchAll();
    return resources.map((r) => fromDocument<T>(r));
  }

  private async createCounted<T extends { name: string; version?: string }>(kind: Kind, record: T, limit: number): Promise<T> {
    await this.takeSlot(kind, limit);
    try {
      const { resource } = await this.container.items.create<Document & T>(toDocument(kind, this.registry, record));
      if (!resource) throw new Error(`Cosmos DB returned no document for the created ${kind}`);
      return fromDocument<T>(resource);
    } catch (error) {
      await this.releaseSlot(kind);
      if (cosmosStatus(error) === 409) throw new AlreadyExistsError(`${kind === "token" ? "token" : "scope map"} "${record.name}" already exists`);
      throw error;
    }
  }

  private async replace<T extends { name: string; version?: string }>(kind: Kind, record: T): Promise<T> {
    try {
      const { resource } = await this.container
        .item(`${kind}:${record.name}`, this.registry)
        .replace<Document & T>(toDocument(kind, this.registry, record), {
          ...(record.version ? { accessCondition: { type: "IfMatch", condition: record.version } } : {}),
        });
      if (!resource) throw new Error(`Cosmos DB returned no document for the replaced ${kind}`);
      return fromDocument<T>(resource);
    } catch (error) {
      if (cosmosStatus(error) === 412 || cosmosStatus(error) === 404) throw new ConcurrentUpdateError(`${kind} "${record.name}" changed while this request ran`);
      throw error;
    }
  }

  private async deleteCounted(kind: Kind, name: string): Promise<boolean> {
    try {
      await this.container.item(`${kind}:${name}`, this.registry).delete();
    } catch (error) {
      if (cosmosStatus(error) === 404) return false;
      throw error;
    }
    await this.releaseSlot(kind);
    return true;
  }

  /** Takes a slot on the registry's counter unless it has reached the limit (counter-slot.ts). */
  private async takeSlot(kind: Kind, limit: number): Promise<void> {
    if (await takeCounterSlot(this.container.item(counterId[kind], this.registry), limit, () => this.createCounter(kind))) return;
    throw new LimitExceededError(
      limitName[kind],
      `this registry already has the maximum of ${limit} ${kind === "token" ? "tokens" : "scope maps"}; delete one first`,
    );
  }

  private async releaseSlot(kind: Kind): Promise<void> {
    await releaseCounterSlot(this.container.item(counterId[kind], this.registry));
  }

  private async createCounter(kind: Kind): Promise<void> {
    try {
      await this.container.items.create({ id: counterId[kind], registry: this.registry, type: "counter", count: 0 });
    } catch (error) {
      if (cosmosStatus(error) !== 409) throw error;
    }
  }

  private async count(kind: Kind): Promise<number> {
    const { resource } = await this.container.item(counterId[kind], this.registry).read<{ count: number }>();
    return resource?.count ?? 0;
  }
}

function toDocument<T extends { name: string; version?: string }>(kind: Kind, registry: string, record: T): Document & T {
  const { version: _version, ...fields } = record;
  return { ...(fields as T), id: `${kind}:${record.name}`, registry, type: kind };
}

function fromDocument<T extends { name: string; version?: string }>(document: Document & T): T {
  const { id: _id, registry: _registry, type: _type, _rid, _self, _etag, _ts, _attachments, ...fields } = document as Document &
    T & { _rid?: string; _self?: string; _etag?: string; _ts?: number; _attachments?: string };
  return { ...(fields as unknown as T), ...(_etag ? { version: _etag } : {}) };
}
