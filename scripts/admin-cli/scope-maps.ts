/** `scope-map create|update|show|list|delete`, as `az acr scope-map`. */
import type { CommandSpec, FlagSpec } from "./args.js";
import { segment, type CommandContext } from "./context.js";
import { UsageError } from "./errors.js";
import { renderDetails, renderTable } from "./table.js";

export interface ScopeMap {
  name: string;
  type: string;
  description: string;
  actions: string[];
  creationDate?: string;
  updatedAt?: string;
}

const name: FlagSpec = { name: "name", short: "n", kind: "string", required: true, value: "NAME", help: "the scope map's name (5-50 letters, digits, - and _)" };
const yes: FlagSpec = { name: "yes", short: "y", kind: "boolean", help: "accepted for az compatibility; nothing is asked" };
const repositoryHelp = "a repository (a name, <name>/* or *) and its actions: content/read, content/write, content/delete, metadata/read, metadata/write; repeatable";
const gatewayHelp = "a connected registry and its gateway actions: config/read, config/write, message/read, message/write; repeatable";

/** `--repository hello-world content/read metadata/read` -> repositories/hello-world/content/read, ... */
export function repositoryActions(groups: string[][] | undefined, flag: string, command: string): string[] {
  return expand(groups, "repositories", flag, command, "--repository hello-world content/read metadata/read");
}

/** `--gateway factory1 config/read message/read` -> gateway/factory1/config/read, ... */
export function gatewayActions(groups: string[][] | undefined, flag: string, command: string): string[] {
  return expand(groups, "gateway", flag, command, "--gateway factory1 config/read message/read");
}

function expand(groups: string[][] | undefined, prefix: string, flag: string, command: string, example: string): string[] {
  const actions: string[] = [];
  for (const [target, ...verbs] of groups ?? []) {
    if (verbs.length === 0) throw new UsageError(`--${flag} needs a name and at least one action, as in ${example.replace(/^--\S+/, `--${flag}`)}`, command);
    for (const verb of verbs) actions.push(`${prefix}/${target}/${verb}`);
  }
  return actions;
}

export function renderScopeMap(scopeMap: ScopeMap): string {
  return renderDetails([
    ["Name", scopeMap.name],
    ["Type", scopeMap.type],
    ["Description", scopeMap.description],
    ["Actions", scopeMap.actions],
    ["Created", scopeMap.creationDate],
    ["Updated", scopeMap.updatedAt],
  ]);
}

export function renderScopeMaps(scopeMaps: ScopeMap[]): string {
  return renderTable(
    [
      { header: "NAME", value: (s: ScopeMap) => s.name },
      { header: "TYPE", value: (s) => s.type },
      { header: "CREATION DATE", value: (s) => s.creationDate },
      { header: "DESCRIPTION", value: (s) => s.description },
    ],
    scopeMaps,
  );
}

export const scopeMapCommands: CommandSpec<CommandContext>[] = [
  {
    path: ["scope-map", "create"],
    summary: "Create a scope map: the repositories and gateway actions a token may use.",
    credentials: "admin",
    flags: [
      name,
      { name: "repository", kind: "groups", value: "REPOSITORY ACTION...", help: repositoryHelp },
      { name: "gateway", kind: "groups", value: "CONNECTED_REGISTRY ACTION...", help: gatewayHelp },
      { name: "description", kind: "string", value: "TEXT", help: "up to 256 characters" },
    ],
    examples: ["registry-admin scope-map create --name hello-pull --repository hello-world content/read metadata/read"],
    run: async (ctx) => {
      const command = ctx.flags.command;
      const actions = [...repositoryActions(ctx.flags.groups("repository"), "repository", command), ...gatewayActions(ctx.flags.groups("gateway"), "gateway", command)];
      if (actions.length === 0) throw new UsageError("give at least one --repository or --gateway", command);
      const description = ctx.flags.string("description");
      const created = await ctx.management().call<ScopeMap>("POST", "scopeMaps", { name: ctx.flags.requiredString("name"), actions, ...(description !== undefined ? { description } : {}) });
      ctx.print(created, () => renderScopeMap(created));
    },
  },
  {
    path: ["scope-map", "update"],
    summary: "Add or remove actions of a scope map, or change its description.",
    credentials: "admin",
    flags: [
      name,
      { name: "add-repository", kind: "groups", value: "REPOSITORY ACTION...", help: `add: ${repositoryHelp}` },
      { name: "remove-repository", kind: "groups", value: "REPOSITORY ACTION...", help: "remove these repository actions; repeatable" },
      { name: "add-gateway", kind: "groups", value: "CONNECTED_REGISTRY ACTION...", help: `add: ${gatewayHelp}` },
      { name: "remove-gateway", kind: "groups", value: "CONNECTED_REGISTRY ACTION...", help: "remove these gateway actions; repeatable" },
      { name: "description", kind: "string", value: "TEXT", help: "the new description" },
    ],
    examples: ["registry-admin scope-map update --name hello-pull --add-repository hello-world content/write --remove-repository hello-world metadata/read"],
    run: async (ctx) => {
      const command = ctx.flags.command;
      const addActions = [...repositoryActions(ctx.flags.groups("add-repository"), "add-repository", command), ...gatewayActions(ctx.flags.groups("add-gateway"), "add-gateway", command)];
      const removeActions = [
        ...repositoryActions(ctx.flags.groups("remove-repository"), "remove-repository", command),
        ...gatewayActions(ctx.flags.groups("remove-gateway"), "remove-gateway", command),
      ];
      const description = ctx.flags.string("description");
      if (addActions.length + removeActions.length === 0 && description === undefined) {
        throw new UsageError("nothing to update: give --add-repository, --remove-repository, --add-gateway, --remove-gateway or --description", command);
      }
      const updated = await ctx
        .management()
        .call<ScopeMap>("PATCH", `scopeMaps/${segment(ctx.flags.requiredString("name"))}`, { addActions, removeActions, ...(description !== undefined ? { description } : {}) });
      ctx.print(updated, () => renderScopeMap(updated));
    },
  },
  {
    path: ["scope-map", "show"],
    summary: "Show a scope map and its actions.",
    credentials: "admin",
    flags: [name],
    run: async (ctx) => {
      const scopeMap = await ctx.management().call<ScopeMap>("GET", `scopeMaps/${segment(ctx.flags.requiredString("name"))}`);
      ctx.print(scopeMap, () => renderScopeMap(scopeMap));
    },
  },
  {
    path: ["scope-map", "list"],
    summary: "List the scope maps, system ones first.",
    credentials: "admin",
    flags: [],
    run: async (ctx) => {
      const answer = await ctx.management().call<{ value: ScopeMap[] }>("GET", "scopeMaps");
      ctx.print(answer, () => renderScopeMaps(answer.value));
    },
  },
  {
    path: ["scope-map", "delete"],
    summary: "Delete a scope map (refused while a token uses it).",
    credentials: "admin",
    flags: [name, yes],
    run: async (ctx) => {
      await ctx.management().call("DELETE", `scopeMaps/${segment(ctx.flags.requiredString("name"))}`);
    },
  },
];
