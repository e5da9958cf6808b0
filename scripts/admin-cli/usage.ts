/** Help text, generated from the command specs. Pure. */
import { flagsOf, nextWords, type CommandSpec, type FlagSpec } from "./args.js";

const PROGRAM = "registry-admin";

function flagSynopsis(flag: FlagSpec): string {
  const value = flag.kind === "boolean" ? "" : ` ${flag.value ?? "VALUE"}`;
  const text = `--${flag.name}${value}`;
  return flag.required ? text : `[${text}]`;
}

export function commandHelp(command: CommandSpec<unknown>): string {
  const flags = flagsOf(command);
  const lines = [
    `usage: ${PROGRAM} ${command.path.join(" ")} ${command.flags.map(flagSynopsis).join(" ")}`.trimEnd(),
    "",
    command.summary,
    "",
    "flags:",
  ];
  const names = flags.map((flag) => `${flag.short ? `-${flag.short}, ` : "    "}--${flag.name}${flag.kind === "boolean" ? "" : ` ${flag.value ?? "VALUE"}`}`);
  const width = Math.max(...names.map((name) => name.length));
  flags.forEach((flag, i) => {
    const notes = [flag.required ? "required" : "", flag.env ? `or env ${flag.env}` : ""].filter(Boolean);
    lines.push(`  ${names[i]!.padEnd(width)}  ${flag.help}${notes.length > 0 ? ` (${notes.join("; ")})` : ""}`);
  });
  if (command.examples && command.examples.length > 0) lines.push("", "examples:", ...command.examples.map((example) => `  ${example}`));
  return `${lines.join("\n")}\n`;
}

/** Help for a group (or the whole program when `path` is empty): the commands under it. */
export function groupHelp(commands: readonly CommandSpec<unknown>[], path: readonly string[]): string {
  const under = commands.filter((command) => path.every((word, i) => command.path[i] === word));
  const width = Math.max(...under.map((command) => command.path.join(" ").length));
  const lines = [
    `usage: ${PROGRAM} ${path.length > 0 ? `${path.join(" ")} ` : ""}<${nextWords(commands, path).join("|")}> ... [--flags]`,
    "",
    ...(path.length === 0
      ? [
          "Manage the registry as `az acr` manages ACR: scope maps, tokens, connected registries, imports, repositories.",
          "Endpoint and credentials: --endpoint / REGISTRY_ENDPOINT, and --admin-key / REGISTRY_ADMIN_KEY (management API),",
          "or saved once with `registry-admin login --endpoint URL` (then --registry/-r NAME picks a saved one),",
          "or a token's --username/--password / REGISTRY_USERNAME/REGISTRY_PASSWORD (repository commands, /v2/ API).",
          "Output: tables, --output json, or --query PATH --output tsv for one value. Exit codes: 0 ok, 1 refused by the API, 2 usage error, 3 endpoint unreachable.",
          "",
        ]
      : []),
    "commands:",
    ...under.map((command) => `  ${command.path.join(" ").padEnd(width)}  ${command.summary}`),
    "",
    `Run ${PROGRAM} <command> --help for its flags.`,
  ];
  return `${lines.join("\n")}\n`;
}
