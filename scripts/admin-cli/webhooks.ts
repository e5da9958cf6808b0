/** `webhook create|update|show|get-config|list|delete|ping|list-events`, as `az acr webhook` (docs/admin-cli.md, docs/events.md). */
import type { CommandSpec, FlagSpec } from "./args.js";
import { segment, type CommandContext } from "./context.js";
import { UsageError } from "./errors.js";
import { renderDetails, renderTable } from "./table.js";

interface Webhook {
  name: string;
  serviceUri: string;
  actions: string[];
  scope: string;
  status: string;
  format: string;
  customHeaders: string[];
  createdAt?: string;
  updatedAt?: string;
  secret?: string;
}

interface WebhookEvent {
  id: string;
  action: string;
  state: string;
  createdAt: string;
  attempts: number;
  eventResponseMessage: { statusCode: number | null; error: string | null } | null;
}

const name: FlagSpec = { name: "name", short: "n", kind: "string", required: true, value: "NAME", help: "the webhook's name (5-50 letters and digits)" };
const uri: FlagSpec = { name: "uri", kind: "string", value: "URL", help: "where events are POSTed (http:// or https://)" };
const actions: FlagSpec = { name: "actions", kind: "list", value: "ACTION...", help: "push, delete (space-separated)" };
const scope: FlagSpec = { name: "scope", kind: "string", value: "REPO[:TAG]", help: "which events: repo:tag, * as a wildcard (repo:*), repo alone is repo:latest; empty for every repository" };
const headers: FlagSpec = { name: "headers", kind: "list", value: "KEY=VALUE...", help: "custom headers sent with each event (stored sealed, never shown); replaces them all on update" };
const status: FlagSpec = { name: "status", kind: "string", choices: ["enabled", "disabled"], value: "STATUS", help: "enabled (default) or disabled" };
const format: FlagSpec = { name: "format", kind: "string", choices: ["eventgrid", "cloudevents"], value: "FORMAT", help: "payload schema: eventgrid (default) or cloudevents (CloudEvents 1.0)" };
const secret: FlagSpec = { name: "secret", kind: "string", value: "SECRET", help: "the shared secret that signs each event (16+ characters); create makes one if left out and shows it once" };

/** `--headers Authorization="Bearer x" X-Team=web` -> { Authorization: "Bearer x", "X-Team": "web" } */
function parseHeaders(values: string[] | undefined, command: string): Record<string, string> | undefined {
  if (!values) return undefined;
  const parsed: Record<string, string> = {};
  for (const value of values) {
    const equals = value.indexOf("=");
    if (equals <= 0) throw new UsageError(`--headers takes KEY=VALUE pairs, not "${value}"`, command);
    parsed[value.slice(0, equals)] = value.slice(equals + 1);
  }
  return parsed;
}

function settings(ctx: CommandContext): Record<string, unknown> {
  const command = ctx.flags.command;
  const customHeaders = parseHeaders(ctx.flags.list("headers"), command);
  const chosen: Record<string, unknown> = {
    serviceUri: ctx.flags.string("uri"),
    actions: ctx.flags.list("actions"),
    scope: ctx.flags.string("scope"),
    customHeaders,
    status: ctx.flags.string("status"),
    format: ctx.flags.string("format"),
    secret: ctx.flags.string("secret"),
  };
  return Object.fromEntries(Object.entries(chosen).filter(([, value]) => value !== undefined));
}

function renderWebhook(webhook: Webhook): string {
  const details = renderDetails([
    ["Name", webhook.name],
    ["Service URI", webhook.serviceUri],
    ["Actions", webhook.actions],
    ["Scope", webhook.scope || "(every repository)"],
    ["Status", webhook.status],
    ["Format", webhook.format],
    ["Custom headers", webhook.customHeaders],
    ["Created", webhook.createdAt],
    ["Updated", webhook.updatedAt],
  ]);
  return webhook.secret ? `${details}\nSECRET (shown once; it signs each event, see docs/events.md): ${webhook.secret}\n` : details;
}

export const webhookCommands: CommandSpec<CommandContext>[] = [
  {
    path: ["webhook", "create"],
    summary: "Create a webhook: push and delete events POSTed to a URL, signed with a shared secret.",
    credentials: "admin",
    flags: [name, { ...uri, required: true }, { ...actions, required: true }, scope, headers, status, format, secret],
    examples: ["registry-admin webhook create --name ci1hook --uri https://ci.example.com/hook --actions push --scope hello-world:* --headers Authorization=\"Bearer abc\""],
    run: async (ctx) => {
      const created = await ctx.management().call<Webhook>("POST", "webhooks", { name: ctx.flags.requiredString("name"), ...settings(ctx) });
      ctx.print(created, () => renderWebhook(created));
    },
  },
  {
    path: ["webhook", "update"],
    summary: "Change a webhook's URL, actions, scope, headers, status, format or secret.",
    credentials: "admin",
    flags: [name, uri, actions, scope, headers, status, format, secret],
    examples: ["registry-admin webhook update --name ci1hook --status disabled"],
    run: async (ctx) => {
      const changes = settings(ctx);
      if (Object.keys(changes).length === 0) throw new UsageError("nothing to update: give --uri, --actions, --scope, --headers, --status, --format or --secret", ctx.flags.command);
      const updated = await ctx.management().call<Webhook>("PATCH", `webhooks/${segment(ctx.flags.requiredString("name"))}`, changes);
      ctx.print(updated, () => renderWebhook(updated));
    },
  },
  {
    path: ["webhook", "show"],
    summary: "Show a webhook (never its secret or header values; the service URI without its query).",
    credentials: "admin",
    flags: [name],
    run: async (ctx) => {
      const webhook = await ctx.management().call<Webhook>("GET", `webhooks/${segment(ctx.flags.requiredString("name"))}`);
      ctx.print(webhook, () => renderWebhook(webhook));
    },
  },
  {
    path: ["webhook", "get-config"],
    summary: "Show a webhook's service URI and custom headers in full (show and list redact them).",
    credentials: "admin",
    flags: [name],
    run: async (ctx) => {
      const config = await ctx.management().call<{ serviceUri: string; customHeaders: Record<string, string> }>("GET", `webhooks/${segment(ctx.flags.requiredString("name"))}/config`);
      ctx.print(config, () => renderDetails([["Service URI", config.serviceUri], ["Custom headers", Object.entries(config.customHeaders).map(([key, value]) => `${key}: ${value}`)]]));
    },
  },
  {
    path: ["webhook", "list"],
    summary: "List the webhooks.",
    credentials: "admin",
    flags: [],
    run: async (ctx) => {
      const answer = await ctx.management().call<{ value: Webhook[] }>("GET", "webhooks");
      ctx.print(answer, () =>
        renderTable(
          [
            { header: "NAME", value: (w: Webhook) => w.name },
            { header: "STATUS", value: (w) => w.status },
            { header: "ACTIONS", value: (w) => w.actions.join(",") },
            { header: "SCOPE", value: (w) => w.scope },
            { header: "SERVICE URI", value: (w) => w.serviceUri },
          ],
          answer.value,
        ),
      );
    },
  },
  {
    path: ["webhook", "delete"],
    summary: "Delete a webhook and its delivery log.",
    credentials: "admin",
    flags: [name, { name: "yes", short: "y", kind: "boolean", help: "accepted for az compatibility; nothing is asked" }],
    run: async (ctx) => {
      await ctx.management().call("DELETE", `webhooks/${segment(ctx.flags.requiredString("name"))}`);
    },
  },
  {
    path: ["webhook", "ping"],
    summary: "Send a ping event now and show how the receiver answered.",
    credentials: "admin",
    flags: [name],
    run: async (ctx) => {
      const answer = await ctx.management().call<{ id: string; status?: number; error?: string; durationMs: number }>("POST", `webhooks/${segment(ctx.flags.requiredString("name"))}/ping`);
      ctx.print(answer, () => `ping ${answer.id}: ${answer.status !== undefined ? `HTTP ${answer.status}` : `no answer (${answer.error})`} in ${answer.durationMs} ms\n`);
    },
  },
  {
    path: ["webhook", "list-events"],
    summary: "List a webhook's recent deliveries: event, state, attempts, the receiver's last answer.",
    credentials: "admin",
    flags: [name, { name: "top", kind: "string", value: "N", help: "at most N deliveries, newest first (default 100, at most 1000)" }],
    run: async (ctx) => {
      const top = ctx.flags.integer("top", 1, 1000);
      const answer = await ctx.management().call<{ value: WebhookEvent[] }>("GET", `webhooks/${segment(ctx.flags.requiredString("name"))}/events${top ? `?top=${top}` : ""}`);
      ctx.print(answer, () =>
        renderTable(
          [
            { header: "TIME", value: (e: WebhookEvent) => e.createdAt },
            { header: "ACTION", value: (e) => e.action },
            { header: "STATE", value: (e) => e.state },
            { header: "ATTEMPTS", value: (e) => String(e.attempts) },
            { header: "LAST ANSWER", value: (e) => (e.eventResponseMessage ? (e.eventResponseMessage.statusCode !== null ? String(e.eventResponseMessage.statusCode) : (e.eventResponseMessage.error ?? "")) : "") },
            { header: "EVENT ID", value: (e) => e.id },
          ],
          answer.value,
        ),
      );
    },
  },
];
