/**
 * Storage for webhooks and their deliveries (shared/events/). A delivery is the durable
 * outbox entry of one event for one webhook: written before the push that raised it is
 * acknowledged, and taken up by whichever worker finds it due.
 */
import type { EventAction } from "../domain/event-scope.js";

export type WebhookStatus = "enabled" | "disabled";
export type PayloadFormat = "eventgrid" | "cloudevents";

export interface WebhookRecord {
  name: string;
  /** Redacted (shared/events/service-uri.ts) once `serviceUriSealed`; in full in webhooks stored before that. */
  serviceUri: string;
  /** The full service URI is in `sealedSecrets`: what the re-seal timer and every update make true. */
  serviceUriSealed?: boolean;
  actions: EventAction[];
  /** ACR's scope: "" for every repository (shared/domain/event-scope.ts). */
  scope: string;
  status: WebhookStatus;
  format: PayloadFormat;
  /** Names of the custom headers; their values are sealed with the secret. */
  customHeaderNames: string[];
  /** `{ secret, headers, serviceUri }` sealed (shared/import/sealed-credentials.ts): both are needed in clear to send, never shown. */
  sealedSecrets: string;
  createdAt: string;
  updatedAt: string;
  version?: string;
}

/** What happened to an event: the fields of Event Grid's ContainerRegistry event data. */
export interface RegistryEvent {
  /** Stable per event: every attempt, and every webhook, carries the same id (receivers dedupe on it). */
  id: string;
  timestamp: string;
  /** "ping": what `webhook ping` sends, to check the receiver. */
  action: EventAction | "ping";
  target: { mediaType?: string; size?: number; digest?: string; repository: string; tag?: string };
  request?: { id: string; host: string; method: string; useragent: string };
  /** Set when a connected registry reported the event (an image arrived at or left it). */
  connectedRegistry?: { name: string };
}

export type DeliveryState = "pending" | "delivered" | "failed";

export interface DeliveryAttempt {
  at: string;
  /** The receiver's HTTP status; absent when no answer came (refused, timed out). */
  status?: number;
  error?: string;
  durationMs: number;
}

export interface DeliveryRecord {
  /** `<webhook>.<event id>`: the same event is never queued twice for one webhook. */
  id: string;
  webhook: string;
  event: RegistryEvent;
  state: DeliveryState;
  attempts: DeliveryAttempt[];
  /** When the next attempt is due; while a worker sends, pushed past its timeout (the claim). */
  nextAttemptAt: string;
  createdAt: string;
  version?: string;
}

export interface EventStore {
  /**
   * Throws WebhookExistsError when the name is taken, WebhookLimitError when the registry
   * already has `limit` webhooks (held under concurrent creates).
   */
  createWebhook(webhook: WebhookRecord, limit: number): Promise<WebhookRecord>;
  getWebhook(name: string): Promise<WebhookRecord | undefined>;
  listWebhooks(): Promise<WebhookRecord[]>;
  /** Throws ConcurrentUpdateError when it changed since read. */
  replaceWebhook(webhook: WebhookRecord): Promise<WebhookRecord>;
  deleteWebhook(name: string): Promise<boolean>;
  /** Creates the deliveries; one that exists already (the same event again) is left as it is. Answers those created, with their versions. */
  enqueue(deliveries: DeliveryRecord[]): Promise<DeliveryRecord[]>;
  /** Pending deliveries due at `now`, soonest first. */
  due(now: Date, limit: number): Promise<DeliveryRecord[]>;
  /** The earliest nextAttemptAt of a pending delivery, if any. */
  nextDue(): Promise<Date | undefined>;
  /** Throws ConcurrentUpdateError when it changed since read (another worker claimed it). */
  replaceDelivery(delivery: DeliveryRecord): Promise<DeliveryRecord>;
  /** A webhook's deliveries, newest first. */
  listDeliveries(webhook: string, limit: number): Promise<DeliveryRecord[]>;
  deleteDeliveries(webhook: string): Promise<void>;
}

/** A webhook of that name exists already. */
export class WebhookExistsError extends Error {}

/** The registry has as many webhooks as it may. */
export class WebhookLimitError extends Error {}
