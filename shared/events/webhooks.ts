/**
 * The webhooks resource (docs/admin-api.md, as `az acr webhook`): create, update, show,
 * list, delete, ping and the delivery log. The secret that signs deliveries, the custom
 * headers (often an Authorization) and the service URI (its query often holds a key) are
 * sealed at rest; views show the URI redacted, create answers the secret once, and only
 * `config` (as `az acr webhook get-config`) answers the URI and headers in full.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import { EVENT_ACTIONS, scopeProblem } from "../domain/event-scope.js";
import type { CredentialSealer } from "../import/sealed-credentials.js";
import { AdminError, badRequest, conflict, notFound } from "../admin/errors.js";
import { WebhookExistsError, WebhookLimitError, type DeliveryRecord, type EventStore, type WebhookRecord } from "../store/event-store.js";
import { retryOnConflict } from "../store/optimistic-update.js";
import { UNSEALABLE, type DeliveryWorker, type WebhookSecrets } from "./delivery-worker.js";
import { newDelivery, type EventOutbox } from "./outbox.js";
import { renderPayload } from "./payload.js";
import { redactServiceUri } from "./service-uri.js";

export const WEBHOOK_NAME = /^[a-zA-Z0-9]{5,50}$/;
const MAX_WEBHOOKS = 500;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;
/** Set by the registry on every delivery: a custom header may not replace them. */
const RESERVED_HEADERS = new Set(["content-type", "content-length", "host", "user-agent", "x-registry-event-id", "x-registry-delivery-attempt", "x-registry-signature-256"]);

const serviceUriSchema = z
  .string()
  .max(2048)
  .refine((text) => {
    try {
      const url = new URL(text);
      return (url.protocol === "http:" || url.protocol === "https:") && url.username === "" && url.password === "";
    } catch {
      return false;
    }
  }, "must be an http:// or https:// URL without user:password@ (put credentials in customHeaders, which are sealed)");
const actionsSchema = z.array(z.enum(EVENT_ACTIONS as [string, ...string[]])).min(1, "give at least one action: push, delete");
const scopeSchema = z.string().max(512).refine((scope) => scopeProblem(scope) === undefined, { error: (issue) => scopeProblem(String(issue.input)) ?? "bad scope" });
const headersSchema = z
  // What fetch sends (tab, printable ASCII, Latin-1): it refuses anything else with an error
  // that quotes the value, which would put a secret in the delivery log.
  .record(z.string(), z.string().max(4096).refine((value) => /^[\t\x20-\x7e\xa0-\xff]*$/.test(value), "a header value may hold only printable characters (no line breaks or other control characters, nothing beyond Latin-1)"))
  .refine((headers) => Object.keys(headers).length <= 20, "at most 20 custom headers")
  .superRefine((headers, context) => {
    for (const name of Object.keys(headers)) {
      if (!HEADER_NAME.test(name)) context.addIssue({ code: "custom", message: `"${name}" is not a valid HTTP header name` });
      else if (RESERVED_HEADERS.has(name.toLowerCase())) context.addIssue({ code: "custom", message: `"${name}" is set by the registry on every delivery and cannot be a custom header` });
    }
  });
const secretSchema = z.string().min(16, "must be at least 16 characters").max(256);

export const createWebhookSchema = z
  .object({
    name: z.string().regex(WEBHOOK_NAME, "must be 5-50 letters and digits"),
    serviceUri: serviceUriSchema,
    actions: actionsSchema,
    scope: scopeSchema.default(""),
    customHeaders: headersSchema.default({}),
    status: z.enum(["enabled", "disabled"]).default("enabled"),
    format: z.enum(["eventgrid", "cloudevents"]).default("eventgrid"),
    /** Omitted: the registry makes one and answers it once. */
    secret: secretSchema.optional(),
  })
  .strict();

export const updateWebhookSchema = z
  .object({
    serviceUri: serviceUriSchema.optional(),
    actions: actionsSchema.optional(),
    scope: scopeSchema.optional(),
    /** Replaces every custom header. */
    customHeaders: headersSchema.optional(),
    status: z.enum(["enabled", "disabled"]).optional(),
    format: z.enum(["eventgrid", "cloudevents"]).optional(),
    secret: secretSchema.optional(),
  })
  .strict();

export const listEventsSchema = z.object({ top: z.coerce.number().int().min(1).max(1000).default(100) }).strict();

export type WebhookView = Omit<WebhookRecord, "sealedSecrets" | "version" | "customHeaderNames" | "serviceUriSealed"> & { customHeaders: string[] };

export class WebhookService {
  constructor(
    private readonly store: EventStore,
    private readonly sealer: CredentialSealer,
    private readonly outbox: EventOutbox,
    private readonly worker: DeliveryWorker,
    private readonly source: string,
  ) {}

  async create(input: z.infer<typeof createWebhookSchema>): Promise<WebhookView & { secret: string }> {
    const secret = input.secret ?? randomBytes(32).toString("base64url");
    const now = new Date().toISOString();
    const record: WebhookRecord = {
      name: input.name,
      serviceUri: redactServiceUri(input.serviceUri),
      serviceUriSealed: true,
      actions: [...new Set(input.actions)] as WebhookRecord["actions"],
      scope: input.scope,
      status: input.status,
      format: input.format,
      customHeaderNames: Object.keys(input.customHeaders),
      sealedSecrets: this.sealer.sealValue({ secret, headers: input.customHeaders, serviceUri: input.serviceUri } satisfies WebhookSecrets),
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.store.createWebhook(record, MAX_WEBHOOKS);
    } catch (error) {
      if (error instanceof WebhookExistsError) throw conflict(`webhook "${input.name}" already exists; update it, or delete it first`);
      if (error instanceof WebhookLimitError) throw new AdminError(409, "QuotaExceeded", error.message);
      throw error;
    }
    this.outbox.invalidate();
    return { ...view(record), secret };
  }

  async update(name: string, input: z.infer<typeof updateWebhookSchema>): Promise<WebhookView> {
    const updated = await retryOnConflict(5, async () => {
      const current = await this.require(name);
      // All three given: nothing sealed is needed (how a webhook sealed under a lost key is mended).
      const given = input.secret !== undefined && input.customHeaders !== undefined && (input.serviceUri !== undefined || !current.serviceUriSealed);
      const secrets: WebhookSecrets = given ? { secret: input.secret!, headers: input.customHeaders! } : this.openSecrets(current);
      const serviceUri = input.serviceUri ?? secrets.serviceUri ?? current.serviceUri;
      const next: WebhookRecord = {
        ...current,
        serviceUri: redactServiceUri(serviceUri),
        serviceUriSealed: true,
        ...(input.actions !== undefined ? { actions: [...new Set(input.actions)] as WebhookRecord["actions"] } : {}),
        ...(input.scope !== undefined ? { scope: input.scope } : {}),
        ...(input.status !== undefined ? { status: input.status } : {}),
        ...(input.format !== undefined ? { format: input.format } : {}),
        ...(input.customHeaders !== undefined ? { customHeaderNames: Object.keys(input.customHeaders) } : {}),
        sealedSecrets: this.sealer.sealValue({ secret: input.secret ?? secrets.secret, headers: input.customHeaders ?? secrets.headers, serviceUri } satisfies WebhookSecrets),
        updatedAt: new Date().toISOString(),
      };
      return this.store.replaceWebhook(next);
    });
    if (!updated) throw conflict(`webhook "${name}" kept changing under this update; try again`);
    this.outbox.invalidate();
    return view(updated);
  }

  async show(name: string): Promise<WebhookView> {
    return view(await this.require(name));
  }

  /** The service URI and custom header values in full (`az acr webhook get-config`): admin only, as the whole API is. */
  async config(name: string): Promise<{ serviceUri: string; customHeaders: Record<string, string> }> {
    const webhook = await this.require(name);
    const secrets = this.openSecrets(webhook);
    return { serviceUri: secrets.serviceUri ?? webhook.serviceUri, customHeaders: secrets.headers };
  }

  async list(): Promise<WebhookView[]> {
    return (await this.store.listWebhooks()).map(view);
  }

  async delete(name: string): Promise<void> {
    if (!(await this.store.deleteWebhook(name))) throw missing(name);
    this.outbox.invalidate();
    await this.store.deleteDeliveries(name);
  }

  /**
   * Re-seals, under the current signing key, the secrets of webhooks sealed under the previous
   * one: the timer runs it while TOKEN_SIGNING_KEY_PREVIOUS is set, so when a rotation
   * (docs/operations.md) removes that key, webhooks still sign and send. It also seals the
   * service URI of webhooks stored before it was sealed. Returns how many.
   */
  async resealRotated(): Promise<number> {
    let resealed = 0;
    const current = (webhook: WebhookRecord) => webhook.serviceUriSealed === true && this.sealer.opensWithCurrentKey(webhook.sealedSecrets);
    for (const webhook of await this.store.listWebhooks()) {
      if (current(webhook)) continue;
      const done = await retryOnConflict(5, async () => {
        const latest = await this.store.getWebhook(webhook.name);
        if (!latest || current(latest)) return false;
        let secrets: WebhookSecrets;
        try {
          secrets = this.sealer.openValue<WebhookSecrets>(latest.sealedSecrets);
        } catch {
          return false; // under neither key: only a new URI, secret and headers (PATCH) mend it
        }
        const serviceUri = secrets.serviceUri ?? latest.serviceUri;
        await this.store.replaceWebhook({ ...latest, serviceUri: redactServiceUri(serviceUri), serviceUriSealed: true, sealedSecrets: this.sealer.sealValue({ ...secrets, serviceUri }) });
        return true;
      });
      if (done) resealed++;
    }
    if (resealed > 0) this.outbox.invalidate();
    return resealed;
  }

  /** Sends a ping event now and answers how the receiver took it (it is in the delivery log too). */
  async ping(name: string): Promise<{ id: string; status?: number; error?: string; durationMs: number }> {
    const webhook = await this.require(name);
    if (webhook.status === "disabled") throw badRequest(`webhook "${name}" is disabled; enable it to ping it`);
    const now = new Date().toISOString();
    const event = { id: randomUUID(), timestamp: now, action: "ping" as const, target: { repository: "" } };
    const delivery = newDelivery(name, event, new Date(Date.now() + 3_600_000).toISOString());
    // Queued in the future, so only this request sends it; its one attempt is recorded.
    const [stored] = await this.store.enqueue([{ ...delivery, createdAt: now }]);
    const attempt = await this.worker.sendNow({ ...(stored ?? delivery), nextAttemptAt: now });
    return { id: event.id, ...(attempt ?? { error: "another worker took the ping", durationMs: 0 }) };
  }

  /** The delivery log, newest first: what was sent, the receiver's answers, how many attempts. */
  async listEvents(name: string, top: number): Promise<unknown[]> {
    const webhook = await this.require(name);
    return (await this.store.listDeliveries(name, top)).map((delivery) => eventView(webhook, delivery, this.source));
  }

  private openSecrets(webhook: WebhookRecord): WebhookSecrets {
    try {
      return this.sealer.openValue<WebhookSecrets>(webhook.sealedSecrets);
    } catch {
      throw conflict(`webhook "${webhook.name}": ${UNSEALABLE}`);
    }
  }

  private async require(name: string): Promise<WebhookRecord> {
    const webhook = await this.store.getWebhook(name);
    if (!webhook) throw missing(name);
    return webhook;
  }
}

function missing(name: string): AdminError {
  return notFound(`webhook "${name}" does not exist`);
}

function view(record: WebhookRecord): WebhookView {
  const { sealedSecrets: _sealed, version: _version, customHeaderNames, serviceUriSealed: _sealedUri, ...visible } = record;
  // Redacted again: a webhook stored before the URI was sealed holds it in full.
  return { ...visible, serviceUri: redactServiceUri(record.serviceUri), customHeaders: customHeaderNames };
}

function eventView(webhook: WebhookRecord, delivery: DeliveryRecord, source: string): Record<string, unknown> {
  const last = delivery.attempts.at(-1);
  const payload = renderPayload(delivery.event, webhook.format, source);
  return {
    id: delivery.event.id,
    action: delivery.event.action,
    state: delivery.state,
    createdAt: delivery.createdAt,
    attempts: delivery.attempts.length,
    ...(delivery.state === "pending" && delivery.attempts.length > 0 ? { nextAttemptAt: delivery.nextAttemptAt } : {}),
    eventRequestMessage: { method: "POST", requestUri: redactServiceUri(webhook.serviceUri), contentType: payload.contentType, content: JSON.parse(payload.body) as unknown },
    eventResponseMessage: last ? { statusCode: last.status ?? null, error: last.error ?? null, at: last.at, durationMs: last.durationMs } : null,
    history: delivery.attempts,
  };
}
