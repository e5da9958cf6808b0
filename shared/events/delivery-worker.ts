/**
 * Sends queued deliveries (docs/events.md). At least once: a worker claims a due delivery
 * by moving its nextAttemptAt past the send's timeout (an etag-checked write, so two
 * workers never send one attempt twice), sends, then records the outcome. A worker that
 * dies between the send and the record leaves the claim to expire and the event is sent
 * again, with the same id: receivers dedupe on it. Failures are retried on a bounded
 * back-off schedule, then the delivery is marked failed and stays in the log.
 */
import type { CredentialSealer } from "../import/sealed-credentials.js";
import { ConcurrentUpdateError } from "../store/interfaces.js";
import type { DeliveryAttempt, DeliveryRecord, EventStore, WebhookRecord } from "../store/event-store.js";
import { renderPayload } from "./payload.js";
import { redactServiceUri } from "./service-uri.js";
import { SIGNATURE_HEADER, signBody } from "./signature.js";

export interface WebhookSecrets {
  secret: string;
  headers: Record<string, string>;
  /** The address in full (its query may hold a credential); absent in webhooks sealed before it was. */
  serviceUri?: string;
}

export interface DeliveryWorkerOptions {
  /** Waits before each retry, in seconds; attempts = its length + 1. */
  retrySeconds: number[];
  /** A receiver that has not answered in this long counts as failed. */
  timeoutMs: number;
  /** The registry as receivers see it: the payload's source/topic. */
  source: string;
  log: (message: string) => void;
  /** Deliveries sent at once. */
  concurrency?: number;
  now?: () => number;
}

/** Sealed under a signing key no longer configured (removed before the re-seal timer ran): only new secrets mend it. */
export const UNSEALABLE =
  "the webhook's service URI, secret and custom headers were sealed under a token signing key that is no longer configured: set them again (PATCH the webhook with serviceUri, secret and customHeaders)";

export const DEFAULT_RETRY_SECONDS = [1, 10, 60, 300, 900, 3600, 10800];
const BATCH = 50;
/** In-process wake-ups for retries due this soon; later ones are the timer's. */
const WAKE_WITHIN_MS = 60_000;

export class DeliveryWorker {
  private running?: Promise<void>;
  private again = false;
  private wake?: NodeJS.Timeout;
  private wakeTime?: number;
  private stopped = false;
  private readonly fresh: DeliveryRecord[] = [];
  private freshSending = 0;
  private readonly now: () => number;

  constructor(
    private readonly store: EventStore,
    private readonly sealer: CredentialSealer,
    private readonly options: DeliveryWorkerOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  claimUntil(now: number): string {
    return new Date(now + this.options.timeoutMs * 2 + 5000).toISOString();
  }

  /** Deliveries this instance just queued, claimed already: sent from memory, a few at a time. */
  sendFresh(deliveries: DeliveryRecord[]): void {
    if (this.stopped) return;
    this.fresh.push(...deliveries);
    this.pumpFresh();
  }

  private pumpFresh(): void {
    while (this.freshSending < (this.options.concurrency ?? 8) && this.fresh.length > 0) {
      const delivery = this.fresh.shift()!;
      this.freshSending++;
      // One that waited here past its claim (a slow receiver held every lane) may have been
      // taken by a drain meanwhile: claim it again (etag-checked) rather than send it twice.
      const claimHolds = Date.parse(delivery.nextAttemptAt) - this.now() > this.options.timeoutMs;
      void this.attempt(delivery, new Map(), claimHolds)
        .catch((error: unknown) => this.options.log(`event delivery: ${error instanceof Error ? error.message : String(error)}`))
        .finally(() => {
          this.freshSending--;
          this.pumpFresh();
        });
    }
  }

  /** Runs a drain now, or right after the one running (an event queued during it is not missed). */
  nudge(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    void this.drain().catch((error: unknown) => this.options.log(`event delivery: ${error instanceof Error ? error.message : String(error)}`));
  }

  /** Sends every due delivery; the timer calls it, and nudge() after an event is queued. */
  drain(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          for (;;) {
            const due = await this.store.due(new Date(this.now()), BATCH);
            if (due.length === 0) break;
            await this.sendAll(due);
            if (due.length < BATCH) break;
          }
        } while (this.again);
        await this.scheduleWake();
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Sends one delivery at once, whatever its schedule (webhook ping); returns the attempt. */
  async sendNow(delivery: DeliveryRecord): Promise<DeliveryAttempt | undefined> {
    return this.attempt(delivery, new Map());
  }

  /** No more in-process wake-ups or nudges (the host is shutting down); a drain under way ends on its own. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.wake);
  }

  private async sendAll(deliveries: DeliveryRecord[]): Promise<void> {
    const webhooks = new Map<string, Promise<WebhookRecord | undefined>>();
    let next = 0;
    const lanes = Array.from({ length: Math.min(this.options.concurrency ?? 8, deliveries.length) }, async () => {
      while (next < deliveries.length) await this.attempt(deliveries[next++]!, webhooks);
    });
    await Promise.all(lanes);
  }

  private async attempt(delivery: DeliveryRecord, webhooks: Map<string, Promise<WebhookRecord | undefined>>, alreadyClaimed = false): Promise<DeliveryAttempt | undefined> {
    let claimed = delivery;
    if (!alreadyClaimed) {
      try {
        claimed = await this.store.replaceDelivery({ ...delivery, nextAttemptAt: this.claimUntil(this.now()) });
      } catch (error) {
        if (error instanceof ConcurrentUpdateError) return undefined; // another worker has it
        throw error;
      }
    }
    if (!webhooks.has(delivery.webhook)) webhooks.set(delivery.webhook, this.store.getWebhook(delivery.webhook));
    const webhook = await webhooks.get(delivery.webhook);
    const attempt = webhook
      ? await this.send(webhook, delivery)
      : { at: new Date(this.now()).toISOString(), error: "the webhook was deleted", durationMs: 0 };
    const attempts = [...claimed.attempts, attempt];
    const succeeded = attempt.status !== undefined && attempt.status >= 200 && attempt.status < 300;
    const waitSeconds = this.options.retrySeconds[attempts.length - 1];
    const outcome: Pick<DeliveryRecord, "state" | "nextAttemptAt"> = succeeded
      ? { state: "delivered", nextAttemptAt: claimed.nextAttemptAt }
      : // A ping is the caller's one try (webhooks.ts answers its outcome): not retried.
        !webhook || webhook.status === "disabled" || waitSeconds === undefined || delivery.event.action === "ping"
        ? { state: "failed", nextAttemptAt: claimed.nextAttemptAt }
        : { state: "pending", nextAttemptAt: new Date(this.now() + waitSeconds * 1000).toISOString() };
    if (!succeeded) {
      this.options.log(
        `event delivery: ${delivery.event.action} event ${delivery.event.id} to webhook ${delivery.webhook} failed (attempt ${attempts.length}: ${attempt.status ?? attempt.error}); ${outcome.state === "pending" ? `retrying in ${waitSeconds} s` : "giving up"}`,
      );
    }
    try {
      await this.store.replaceDelivery({ ...claimed, ...outcome, attempts });
    } catch (error) {
      // Deleted with its webhook meanwhile: nothing left to record.
      if (!(error instanceof ConcurrentUpdateError)) throw error;
    }
    if (outcome.state === "pending") this.wakeAt(Date.parse(outcome.nextAttemptAt));
    return attempt;
  }

  private async send(webhook: WebhookRecord, delivery: DeliveryRecord): Promise<DeliveryAttempt> {
    const started = this.now();
    const at = new Date(started).toISOString();
    if (webhook.status === "disabled") return { at, error: "the webhook is disabled", durationMs: 0 };
    let secrets: WebhookSecrets;
    try {
      secrets = this.sealer.openValue<WebhookSecrets>(webhook.sealedSecrets);
    } catch {
      return { at, error: UNSEALABLE, durationMs: 0 };
    }
    const payload = renderPayload(delivery.event, webhook.format, this.options.source);
    try {
      const response = await fetch(secrets.serviceUri ?? webhook.serviceUri, {
        method: "POST",
        headers: {
          ...secrets.headers,
          "Content-Type": payload.contentType,
          "User-Agent": "connected-registry-webhook/1",
          "X-Registry-Event-Id": delivery.event.id,
          "X-Registry-Delivery-Attempt": String(delivery.attempts.length + 1),
          [SIGNATURE_HEADER]: signBody(secrets.secret, payload.body),
        },
        body: payload.body,
        // A redirect is an answer, not a success: the receiver's address is the one configured.
        redirect: "manual",
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      // Read (and drop) the body, so the connection can be reused.
      await response.arrayBuffer().catch(() => undefined);
      return { at, status: response.status, durationMs: this.now() - started };
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
      // The delivery log and the app's log show this: never the URI's query (it may hold a key).
      const uri = secrets.serviceUri ?? webhook.serviceUri;
      const message = `${error instanceof Error ? error.message : String(error)}${cause}`.replaceAll(uri, redactServiceUri(uri));
      return { at, error: message.slice(0, 500), durationMs: this.now() - started };
    }
  }

  /** Retries due within a minute are taken up by this instance; the timer covers the rest. */
  private async scheduleWake(): Promise<void> {
    const next = await this.store.nextDue();
    if (next) this.wakeAt(next.getTime());
  }

  /** A drain at `time` (the earliest one asked for wins); none past a minute away: that is the timer's. */
  private wakeAt(time: number): void {
    const delay = Math.max(time - this.now(), 0);
    if (this.stopped || delay > WAKE_WITHIN_MS || (this.wake && this.wakeTime !== undefined && this.wakeTime <= time)) return;
    clearTimeout(this.wake);
    this.wakeTime = time;
    this.wake = setTimeout(() => {
      this.wake = undefined;
      this.wakeTime = undefined;
      this.nudge();
    }, delay + 10);
    this.wake.unref();
  }
}
