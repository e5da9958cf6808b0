/** `token create|update|show|list|delete` and `token credential generate`, as `az acr token`. */
import type { CommandSpec, FlagSpec } from "./args.js";
import { segment, type CommandContext } from "./context.js";
import { gatewayActions, repositoryActions } from "./scope-maps.js";
import { UsageError } from "./errors.js";
import { renderDetails, renderTable } from "./table.js";

export interface Token {
  name: string;
  scopeMap: string;
  status: string;
  creationDate?: string;
  updatedAt?: string;
  credentials?: { passwords?: Array<{ name: string; creationTime?: string; expiry?: string }> };
}

export interface GeneratedCredentials {
  username: string;
  passwords: Array<{ name: string; value: string; creationTime?: string; expiry?: string }>;
}

const name: FlagSpec = { name: "name", short: "n", kind: "string", required: true, value: "NAME", help: "the token's name (5-50 letters, digits, - and _)" };
const status: FlagSpec = { name: "status", kind: "string", choices: ["enabled", "disabled"], value: "STATUS", help: "enabled or disabled" };
const yes: FlagSpec = { name: "yes", short: "y", kind: "boolean", help: "accepted for az compatibility; nothing is asked" };

/** "password1 (expires ...), password2" */
function passwordsText(token: Token): string {
  return (token.credentials?.passwords ?? []).map((p) => (p.expiry ? `${p.name} (expires ${p.expiry})` : p.name)).join(", ");
}

export function renderToken(token: Token): string {
  return renderDetails([
    ["Name", token.name],
    ["Scope map", token.scopeMap],
    ["Status", token.status],
    ["Passwords", (token.credentials?.passwords ?? []).map((p) => `${p.name}  created ${p.creationTime ?? "?"}${p.expiry ? `  expires ${p.expiry}` : ""}`)],
    ["Created", token.creationDate],
    ["Updated", token.updatedAt],
  ]);
}

export function renderTokens(tokens: Token[]): string {
  return renderTable(
    [
      { header: "NAME", value: (t: Token) => t.name },
      { header: "SCOPE MAP", value: (t) => t.scopeMap },
      { header: "STATUS", value: (t) => t.status },
      { header: "PASSWORDS", value: passwordsText },
      { header: "CREATION DATE", value: (t) => t.creationDate },
    ],
    tokens,
  );
}

export function renderCredentials(credentials: GeneratedCredentials): string {
  return renderTable(
    [
      { header: "USERNAME", value: () => credentials.username },
      { header: "PASSWORD", value: (p: GeneratedCredentials["passwords"][number]) => p.name },
      { header: "VALUE", value: (p) => p.value },
      { header: "EXPIRY", value: (p) => p.expiry ?? "never" },
    ],
    credentials.passwords,
  );
}

/** `--repository hello-world content/read metadata/read` -> {name: "hello-world", actions: [...]}, as POST /tokens takes. */
export function tokenRepositories(groups: string[][], command: string): Array<{ name: string; actions: string[] }> {
  return groups.map(([repository, ...actions]) => {
    if (actions.length === 0) throw new UsageError(`--repository needs a repository and at least one action, as in --repository hello-world content/read metadata/read`, command);
    return { name: repository!, actions };
  });
}

const expiryFlags: FlagSpec[] = [
  { name: "expiration-in-days", kind: "string", value: "DAYS", help: "the password stops working after this many days (default: never)" },
  { name: "expiration", kind: "string", value: "DATETIME", help: "or: when it stops working, ISO 8601 (e.g. 2030-01-01T00:00:00Z)" },
];

/** --expiration-in-days or --expiration as the API's ISO expiry; undefined for never. */
function expiryOf(ctx: CommandContext): string | undefined {
  const command = ctx.flags.command;
  const days = ctx.flags.integer("expiration-in-days", 1, 36_500);
  const expiration = ctx.flags.string("expiration");
  if (days !== undefined && expiration !== undefined) throw new UsageError("give --expiration-in-days or --expiration, not both", command);
  if (expiration !== undefined && Number.isNaN(Date.parse(expiration))) throw new UsageError(`--expiration must be an ISO 8601 date-time, not "${expiration}"`, command);
  return days !== undefined ? new Date(ctx.now().getTime() + days * 86_400_000).toISOString() : expiration !== undefined ? new Date(expiration).toISOString() : undefined;
}

export const tokenCommands: CommandSpec<CommandContext>[] = [
  {
    path: ["token", "create"],
    summary: "Create a token on a scope map, or on repositories (and gateways), which creates the scope map <name>-scope-map. Prints both passwords, once, unless --no-passwords.",
    credentials: "admin",
    flags: [
      name,
      { name: "scope-map", kind: "string", value: "SCOPE_MAP", help: "the scope map the token uses" },
      { name: "repository", kind: "groups", value: "REPOSITORY ACTION...", help: "instead of --scope-map: a repository and its actions; repeatable" },
      { name: "gateway", kind: "groups", value: "CONNECTED_REGISTRY ACTION...", help: "with --repository: a connected registry and its gateway actions (config/read, message/read, ...); repeatable" },
      status,
      { name: "no-passwords", kind: "boolean", help: "do not generate passwords now (token credential generate does, later)" },
      ...expiryFlags,
    ],
    examples: [
      "registry-admin token create --name shopfloor --scope-map hello-pull",
      "registry-admin token create --name ci --repository hello-world content/read content/write",
      'PASSWORD=$(registry-admin token create --name ci --repository hello-world content/read --query "credentials.passwords[0].value" -o tsv)',
    ],
    run: async (ctx) => {
      const command = ctx.flags.command;
      const tokenName = ctx.flags.requiredString("name");
      const scopeMap = ctx.flags.string("scope-map");
      const groups = ctx.flags.groups("repository");
      const gateways = ctx.flags.groups("gateway");
      if ((scopeMap === undefined) === (groups === undefined && gateways === undefined)) throw new UsageError("give either --scope-map or --repository/--gateway (not both)", command);
      const noPasswords = ctx.flags.boolean("no-passwords");
      const expiry = expiryOf(ctx);
      if (noPasswords && expiry !== undefined) throw new UsageError("--expiration and --expiration-in-days are for the passwords: leave out --no-passwords", command);
      const statusValue = ctx.flags.string("status");
      const api = ctx.management();
      let body: Record<string, unknown>;
      if (gateways !== undefined) {
        // The API's repositories form has no gateway actions: make <name>-scope-map here, as it would.
        const actions = [...repositoryActions(groups, "repository", command), ...gatewayActions(gateways, "gateway", command)];
        await api.call("POST", "scopeMaps", { name: `${tokenName}-scope-map`, actions, description: `the token ${tokenName}'s (token create)` });
        body = { name: tokenName, scopeMap: `${tokenName}-scope-map` };
      } else {
        body = { name: tokenName, ...(scopeMap !== undefined ? { scopeMap } : { repositories: tokenRepositories(groups!, command) }) };
      }
      const created = await api.call<Token>("POST", "tokens", { ...body, ...(statusValue ? { status: statusValue } : {}) });
      if (noPasswords) {
        ctx.print(created, () => renderToken(created));
        return;
      }
      const generated = await api.call<GeneratedCredentials>("POST", `tokens/${segment(tokenName)}/credentials/generate`, expiry ? { expiry } : {});
      // az's shape: the token with credentials.username and the passwords' values.
      const withPasswords = { ...created, credentials: { username: generated.username, passwords: generated.passwords } };
      ctx.print(withPasswords, () => `${renderToken(created)}\n${renderCredentials(generated)}(the passwords are shown only now)\n`);
    },
  },
  {
    path: ["token", "update"],
    summary: "Change a token's scope map or status.",
    credentials: "admin",
    flags: [name, { name: "scope-map", kind: "string", value: "SCOPE_MAP", help: "the new scope map" }, status],
    run: async (ctx) => {
      const scopeMap = ctx.flags.string("scope-map");
      const statusValue = ctx.flags.string("status");
      if (scopeMap === undefined && statusValue === undefined) throw new UsageError("nothing to update: give --scope-map or --status", ctx.flags.command);
      const updated = await ctx.management().call<Token>("PATCH", `tokens/${segment(ctx.flags.requiredString("name"))}`, {
        ...(scopeMap !== undefined ? { scopeMap } : {}),
        ...(statusValue !== undefined ? { status: statusValue } : {}),
      });
      ctx.print(updated, () => renderToken(updated));
    },
  },
  {
    path: ["token", "show"],
    summary: "Show a token (never its passwords).",
    credentials: "admin",
    flags: [name],
    run: async (ctx) => {
      const token = await ctx.management().call<Token>("GET", `tokens/${segment(ctx.flags.requiredString("name"))}`);
      ctx.print(token, () => renderToken(token));
    },
  },
  {
    path: ["token", "list"],
    summary: "List the tokens.",
    credentials: "admin",
    flags: [],
    run: async (ctx) => {
      const answer = await ctx.management().call<{ value: Token[] }>("GET", "tokens");
      ctx.print(answer, () => renderTokens(answer.value));
    },
  },
  {
    path: ["token", "delete"],
    summary: "Delete a token (refused while a connected registry uses it).",
    credentials: "admin",
    flags: [name, yes],
    run: async (ctx) => {
      await ctx.management().call("DELETE", `tokens/${segment(ctx.flags.requiredString("name"))}`);
    },
  },
  {
    path: ["token", "credential", "generate"],
    summary: "Generate password1, password2 or both (the default) of a token; a password is shown only here.",
    credentials: "admin",
    flags: [
      name,
      { name: "password1", kind: "boolean", help: "generate password1" },
      { name: "password2", kind: "boolean", help: "generate password2" },
      ...expiryFlags,
    ],
    examples: ["registry-admin token credential generate --name shopfloor --password1 --expiration-in-days 30"],
    run: async (ctx) => {
      const one = ctx.flags.boolean("password1");
      const two = ctx.flags.boolean("password2");
      const expiry = expiryOf(ctx);
      const which = one && !two ? "password1" : two && !one ? "password2" : undefined;
      const generated = await ctx.management().call<GeneratedCredentials>("POST", `tokens/${segment(ctx.flags.requiredString("name"))}/credentials/generate`, {
        ...(which ? { name: which } : {}),
        ...(expiry ? { expiry } : {}),
      });
      ctx.print(generated, () => renderCredentials(generated));
    },
  },
  {
    path: ["token", "credential", "delete"],
    summary: "Delete password1, password2 or both (the default) of a token; the token stays.",
    credentials: "admin",
    flags: [name, { name: "password1", kind: "boolean", help: "delete password1" }, { name: "password2", kind: "boolean", help: "delete password2" }, yes],
    examples: ["registry-admin token credential delete --name shopfloor --password2"],
    run: async (ctx) => {
      const one = ctx.flags.boolean("password1");
      const two = ctx.flags.boolean("password2");
      const which = one && !two ? "password1" : two && !one ? "password2" : undefined;
      const updated = await ctx.management().call<Token>("POST", `tokens/${segment(ctx.flags.requiredString("name"))}/credentials/delete`, which ? { name: which } : {});
      ctx.print(updated, () => renderToken(updated));
    },
  },
];
