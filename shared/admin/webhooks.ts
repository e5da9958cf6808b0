/** The management API's webhook endpoints (docs/admin-api.md): routes for router.ts. */
import type { HandlerRequest, HandlerResponse } from "../http/types.js";
import { readJson } from "../http/json-body.js";
import { createWebhookSchema, listEventsSchema, updateWebhookSchema, WEBHOOK_NAME, type WebhookService } from "../events/webhooks.js";
import { adminJson, badRequest } from "./errors.js";

type Method = (request: HandlerRequest, params: string[]) => Promise<HandlerResponse>;
const WEBHOOK = { noun: "webhook", rule: "5-50 letters and digits", named: (segment: string) => WEBHOOK_NAME.test(segment) };

export function webhookRoutes(webhooks: WebhookService): Array<{ pattern: RegExp; names?: typeof WEBHOOK; methods: Record<string, Method> }> {
  return [
    {
      pattern: /^webhooks$/,
      methods: {
        GET: async () => adminJson(200, { value: await webhooks.list() }),
        POST: async (request) => adminJson(201, await webhooks.create(await readJson(request.body, createWebhookSchema))),
      },
    },
    {
      pattern: /^webhooks\/([^/]+)$/, names: WEBHOOK,
      methods: {
        GET: async (_request, [name]) => adminJson(200, await webhooks.show(name!)),
        PATCH: async (request, [name]) => adminJson(200, await webhooks.update(name!, await readJson(request.body, updateWebhookSchema))),
        DELETE: async (_request, [name]) => {
          await webhooks.delete(name!);
          return { status: 204 };
        },
      },
    },
    {
      pattern: /^webhooks\/([^/]+)\/config$/, names: WEBHOOK,
      methods: {
        GET: async (_request, [name]) => {
          // Credentials in the answer: no cache along the way keeps a copy.
          const answer = adminJson(200, await webhooks.config(name!));
          return { ...answer, headers: { ...answer.headers, "Cache-Control": "no-store" } };
        },
      },
    },
    {
      pattern: /^webhooks\/([^/]+)\/ping$/, names: WEBHOOK,
      methods: { POST: async (_request, [name]) => adminJson(200, await webhooks.ping(name!)) },
    },
    {
      pattern: /^webhooks\/([^/]+)\/events$/, names: WEBHOOK,
      methods: {
        GET: async (request, [name]) => {
          const query = listEventsSchema.safeParse(Object.fromEntries(request.url.searchParams));
          if (!query.success) throw badRequest(`invalid query: ${query.error.issues.map((issue) => `${issue.path.join(".") || "query"}: ${issue.message}`).join("; ")}`);
          return adminJson(200, { value: await webhooks.listEvents(name!, query.data.top) });
        },
      },
    },
  ];
}
