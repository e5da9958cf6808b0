/**
 * Where the registry's push and delete paths, and the sync endpoint's edge reports, hand
 * their events: each event is written as one durable delivery per webhook that wants it
 * (one Cosmos write each, none when no webhook matches), then the delivery worker is nudged.
 * Nothing is sent on the caller's path: the receiver's speed never slows a push.
 */
import { randomUUID } from "node:crypto";
import { inScope } from "../domain/event-scope.js";
import type { DeliveryRecord, EventStore, RegistryEvent, WebhookRecord } from "../store/event-store.js";

/** The delivery worker, as the outbox uses it. */
export interface FreshSender {
  /** When a claim taken now lapses. */
  claimUntil(now: number): string;
  /** Sends deliveries just queued (already claimed), without waiting. */
  sendFresh(deliveries: DeliveryRecord[]): void;
}

/** What the registry engine sees (RegistryContext.events). */
export interface EventSink {
  emit(event: NewEvent): Promise<void>;
}

/** An event before it is queued; the id is given by a caller that must keep it stable (an edge's report). */
export type NewEvent = Omit<RegistryEvent, "id" | "timestamp"> & { id?: string; timestamp?: string };

/** Webhooks are read at most this often per instance; a change made elsewhere is seen within it. */
const WEBHOOK_CACHE_MS = 5000;

export class EventOutbox implements EventSink {
  private cached?: { webhooks: Promise<WebhookRecord[]>; at: number };

  constructor(
    private readonly store: EventStore,
    private readonly sender: FreshSender,
    private readonly now: () => number = Date.now,
  ) {}

  async emit(input: NewEvent): Promise<void> {
    if (input.action === "ping") return;
    const action = input.action;
    const tag = input.target.tag;
    const webhooks = (await this.webhooks()).filter(
      (webhook) =>
        webhook.status === "enabled" &&
        webhook.actions.includes(action) &&
        inScope(webhook.scope, { action, repository: input.target.repository, ...(tag ? { tag } : {}) }),
    );
    if (webhooks.length === 0) return;
    const event: RegistryEvent = { ...input, id: input.id ?? randomUUID(), timestamp: input.timestamp ?? new Date(this.now()).toISOString() };
    const createdAt = new Date(this.now()).toISOString();
    // Written claimed by this instance: it sends them at once from memory (no query, no claim
    // write); if it dies first, the claim lapses and any instance's timer sends them.
    const claimedUntil = this.sender.claimUntil(this.now());
    const created = await this.store.enqueue(webhooks.map((webhook) => ({ ...newDelivery(webhook.name, event, createdAt), nextAttemptAt: claimedUntil })));
    this.sender.sendFresh(created);
  }

  /** A webhook was created, changed or deleted on this instance: read them again at once. */
  invalidate(): void {
    this.cached = undefined;
  }

  private webhooks(): Promise<WebhookRecord[]> {
    if (!this.cached || this.now() - this.cached.at > WEBHOOK_CACHE_MS) {
      const webhooks = this.store.listWebhooks();
      this.cached = { webhooks, at: this.now() };
      // A failed read is not kept: the next event tries again.
      webhooks.catch(() => (this.cached = undefined));
    }
    return this.cached.webhooks;
  }
}

export function newDelivery(webhook: string, event: RegistryEvent, createdAt: string): DeliveryRecord {
  return { id: `${webhook}.${event.id}`, webhook, event, state: "pending", attempts: [], nextAttemptAt: createdAt, createdAt };
}
