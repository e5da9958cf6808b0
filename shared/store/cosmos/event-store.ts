/**
 * EventStore on Cosmos DB, in the "operations" container (partition "/registry"): webhooks
 * ("webhook:<name>") and their deliveries ("delivery:<webhook>.<event id>"). Settled
 * deliveries carry a TTL (the delivery log is kept 7 days); the local Cosmos server does
 * not expire them, which only makes its log longer.
 *
 * The webhook limit holds under concurrent creates as identity-store.ts's limits do: a create
 * takes a slot on "counter:webhooks" first (counter-slot.ts).
 */
import type { Container, ItemDefinition } from "@azure/cosmos";
import { releaseCounterSlot, takeCounterSlot } from "./counter-slot.js";
import { ConcurrentUpdateError } from "../interfaces.js";
import { WebhookExistsError, WebhookLimitError, type DeliveryRecord, type EventStore, type WebhookRecord } from "../event-store.js";
import { cosmosStatus } from "./status.js";

const WEBHOOK_COUNTER = "counter:webhooks";
const SETTLED_TTL_SECONDS = 7 * 24 * 60 * 60;
const COSMOS_FIELDS = ["_rid", "_self", "_etag", "_attachments", "_ts", "registry", "type", "ttl", "id"] as const;

export class CosmosEventStore implements EventStore {
  constructor(
    private readonly container: Container,
    private readonly registry: string,
  ) {}

  async createWebhook(webhook: WebhookRecord, limit: number): Promise<WebhookRecord> {
    await this.takeWebhookSlot(limit);
    try {
      const { resource } = await this.container.items.create<ItemDefinition>(this.webhookDocument(webhook));
      return fromDocument<WebhookRecord>(resource!);
    } catch (error) {
      await this.releaseWebhookSlot();
      if (cosmosStatus(error) === 409) throw new WebhookExistsError(`webhook ${webhook.name} exists`);
      throw error;
    }
  }

  async getWebhook(name: string): Promise<WebhookRecord | undefined> {
    const { resource } = await this.container.item(`webhook:${name}`, this.registry).read<ItemDefinition>();
    return resource ? fromDocument<WebhookRecord>(resource) : undefined;
  }

  async listWebhooks(): Promise<WebhookRecord[]> {
    const { resources } = await this.container.items
      .query<ItemDefinition>({ query: "SELECT * FROM c WHERE c.registry = @registry AND c.type = 'webhook'", parameters: [{ name: "@registry", value: this.registry }] })
      .fetchAll();
    return resources.map((document) => fromDocument<WebhookRecord>(document)).sort((a, b) => a.name.localeCompare(b.name));
  }

  async replaceWebhook(webhook: WebhookRecord): Promise<WebhookRecord> {
    return fromDocument<WebhookRecord>(await this.replace(`webhook:${webhook.name}`, this.webhookDocument(webhook), webhook.version));
  }

  async deleteWebhook(name: string): Promise<boolean> {
    try {
      await this.container.item(`webhook:${name}`, this.registry).delete();
    } catch (error) {
      if (cosmosStatus(error) === 404) return false;
      throw error;
    }
    await this.releaseWebhookSlot();
    return true;
  }

  private async takeWebhookSlot(limit: number): Promise<void> {
    if (!(await takeCounterSlot(this.container.item(WEBHOOK_COUNTER, this.registry), limit, () => this.createWebhookCounter()))) {
      throw new WebhookLimitError(`a registry has at most ${limit} webhooks; delete one first`);
    }
  }

  private async releaseWebhookSlot(): Promise<void> {
    await releaseCounterSlot(this.container.item(WEBHOOK_COUNTER, this.registry));
  }

  /** The counter starts at the webhooks there are (none, or those a registry had before the counter). */
  private async createWebhookCounter(): Promise<void> {
    const existing = (await this.listWebhooks()).length;
    try {
      await this.container.items.create({ id: WEBHOOK_COUNTER, registry: this.registry, type: "counter", count: existing });
    } catch (error) {
      if (cosmosStatus(error) !== 409) throw error;
    }
  }

  async enqueue(deliveries: DeliveryRecord[]): Promise<DeliveryRecord[]> {
    const created = await Promise.all(
      deliveries.map(async (delivery) => {
        try {
          const { resource } = await this.container.items.create<ItemDefinition>(this.deliveryDocument(delivery));
          return fromDocument<DeliveryRecord>(resource!);
        } catch (error) {
          // The same event again (a retried report, a second instance): it is queued already.
          if (cosmosStatus(error) !== 409) throw error;
          return undefined;
        }
      }),
    );
    return created.filter((delivery) => delivery !== undefined);
  }

  async due(now: Date, limit: number): Promise<DeliveryRecord[]> {
    const { resources } = await this.container.items
      .query<ItemDefinition>({
        query: `SELECT TOP ${Math.floor(limit)} * FROM c WHERE c.registry = @registry AND c.type = 'delivery' AND c.state = 'pending' AND c.nextAttemptAt <= @now ORDER BY c.nextAttemptAt`,
        parameters: [
          { name: "@registry", value: this.registry },
          { name: "@now", value: now.toISOString() },
        ],
      })
      .fetchAll();
    return resources.map((document) => fromDocument<DeliveryRecord>(document));
  }

  async nextDue(): Promise<Date | undefined> {
    const { resources } = await this.container.items
      .query<{ nextAttemptAt: string }>({
        query: "SELECT TOP 1 c.nextAttemptAt FROM c WHERE c.registry = @registry AND c.type = 'delivery' AND c.state = 'pending' ORDER BY c.nextAttemptAt",
        parameters: [{ name: "@registry", value: this.registry }],
      })
      .fetchAll();
    return resources[0] ? new Date(resources[0].nextAttemptAt) : undefined;
  }

  async replaceDelivery(delivery: DeliveryRecord): Promise<DeliveryRecord> {
    return fromDocument<DeliveryRecord>(await this.replace(`delivery:${delivery.id}`, this.deliveryDocument(delivery), delivery.version));
  }

  async listDeliveries(webhook: string, limit: number): Promise<DeliveryRecord[]> {
    const { resources } = await this.container.items
      .query<ItemDefinition>({
        query: `SELECT TOP ${Math.floor(limit)} * FROM c WHERE c.registry = @registry AND c.type = 'delivery' AND c.webhook = @webhook ORDER BY c.createdAt DESC`,
        parameters: [
          { name: "@registry", value: this.registry },
          { name: "@webhook", value: webhook },
        ],
      })
      .fetchAll();
    return resources.map((document) => fromDocument<DeliveryRecord>(document));
  }

  async deleteDeliveries(webhook: string): Promise<void> {
    for (;;) {
      const { resources } = await this.container.items
        .query<{ id: string }>({
          query: "SELECT TOP 100 c.id FROM c WHERE c.registry = @registry AND c.type = 'delivery' AND c.webhook = @webhook",
          parameters: [
            { name: "@registry", value: this.registry },
            { name: "@webhook", value: webhook },
          ],
        })
        .fetchAll();
      if (resources.length === 0) return;
      await Promise.all(resources.map((document) => this.container.item(document.id, this.registry).delete().catch((error: unknown) => {
        if (cosmosStatus(error) !== 404) throw error;
      })));
    }
  }

  private async replace(id: string, document: ItemDefinition, version: string | undefined): Promise<ItemDefinition> {
    try {
      const { resource } = await this.container.item(id, this.registry).replace(document, version ? { accessCondition: { type: "IfMatch", condition: version } } : {});
      if (!resource) throw new Error(`Cosmos DB returned no document for ${id}`);
      return resource;
    } catch (error) {
      if (cosmosStatus(error) === 412 || cosmosStatus(error) === 404) throw new ConcurrentUpdateError(`${id} changed or went since it was read`);
      throw error;
    }
  }

  private webhookDocument(webhook: WebhookRecord): ItemDefinition {
    const { version: _version, ...fields } = webhook;
    return { ...fields, id: `webhook:${webhook.name}`, registry: this.registry, type: "webhook" };
  }

  private deliveryDocument(delivery: DeliveryRecord): ItemDefinition {
    const { version: _version, ...fields } = delivery;
    return { ...fields, id: `delivery:${delivery.id}`, registry: this.registry, type: "delivery", ...(delivery.state === "pending" ? {} : { ttl: SETTLED_TTL_SECONDS }) };
  }
}

function fromDocument<T>(document: ItemDefinition): T {
  const fields: Record<string, unknown> = { ...document };
  const etag = fields._etag;
  for (const key of COSMOS_FIELDS) delete fields[key];
  if ("event" in fields) fields.id = String(document.id).replace(/^delivery:/, "");
  return { ...fields, ...(etag ? { version: String(etag) } : {}) } as T;
}
