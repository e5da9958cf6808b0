/**
 * The command line: `registry-admin <group> [<subgroup>] <verb> --flag value ...`.
 *
 * Flags are read with node:util parseArgs (its tokens), then regrouped the way `az acr`
 * reads them: a `list` flag takes every value up to the next flag and may be repeated
 * (`--repository a b --repository c` is a, b, c); a `groups` flag keeps each occurrence
 * apart (`--repository hello-world content/read metadata/read` is one group, a repository
 * and its actions). Everything here is pure: no I/O, and failures are UsageErrors.
 */
import { parseArgs } from "node:util";
import { UsageError } from "./errors.js";

export type FlagKind = "string" | "boolean" | "list" | "groups";

export interface FlagSpec {
  /** Long name without the dashes, e.g. "sync-schedule". */
  name: string;
  /** One letter, e.g. "n" for -n. */
  short?: string;
  kind: FlagKind;
  required?: boolean;
  /** Allowed values, matched case-insensitively and returned as written here. */
  choices?: readonly string[];
  /** What the value is called in help, e.g. "NAME" or "REPOSITORY ACTION...". */
  value?: string;
  help: string;
  /** An environment variable that stands in for the flag. */
  env?: string;
  /** Another spelling of that flag: its value is stored under that name (import's --name is az's target registry). */
  means?: string;
}

export interface CommandSpec<Context = unknown> {
  /** e.g. ["connected-registry", "permissions", "update"] */
  path: readonly string[];
  summary: string;
  flags: readonly FlagSpec[];
  /** What the command authenticates with: the admin key (management API) or a token (/v2/). */
  credentials: "admin" | "token";
  examples?: readonly string[];
  run(context: Context): Promise<void>;
}

export type FlagValue = string | boolean | string[] | string[][];

/** Flag values by long name, with typed readers. */
export class Flags {
  constructor(
    private readonly values: ReadonlyMap<string, FlagValue>,
    /** For messages: "scope-map create". */
    readonly command: string,
  ) {}

  has(name: string): boolean {
    return this.values.has(name);
  }

  string(name: string): string | undefined {
    const value = this.values.get(name);
    return typeof value === "string" ? value : undefined;
  }

  /** A flag the command cannot do without (checked here when it is required only in some cases). */
  requiredString(name: string, why = ""): string {
    const value = this.string(name);
    if (value === undefined) throw new UsageError(`missing required flag --${name}${why ? ` ${why}` : ""}`, this.command);
    return value;
  }

  boolean(name: string): boolean {
    return this.values.get(name) === true;
  }

  list(name: string): string[] | undefined {
    const value = this.values.get(name);
    return Array.isArray(value) ? (value as string[]) : undefined;
  }

  groups(name: string): string[][] | undefined {
    const value = this.values.get(name);
    return Array.isArray(value) ? (value as string[][]) : undefined;
  }

  /** A whole number between min and max, or a UsageError naming the flag. */
  integer(name: string, min: number, max: number): number | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
      throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${text}"`, this.command);
    }
    return Number(text);
  }
}

export type ParseResult<Context> =
  | { kind: "command"; command: CommandSpec<Context>; flags: Flags }
  /** `--help`, or a group without a verb: `command` is set when the path names one. */
  | { kind: "help"; path: string[]; command?: CommandSpec<Context> };

/** The flags every command takes, after its own. */
export function commonFlags(credentials: "admin" | "token"): FlagSpec[] {
  return [
    { name: "endpoint", kind: "string", value: "URL", env: "REGISTRY_ENDPOINT", help: "the registry, e.g. https://myregistry.example.com or http://127.0.0.1:5000" },
    ...(credentials === "admin"
      ? [{ name: "admin-key", kind: "string", value: "KEY", env: "REGISTRY_ADMIN_KEY", help: "the admin key (sent as Authorization: Bearer)" } satisfies FlagSpec]
      : [
          { name: "username", short: "u", kind: "string", value: "TOKEN", env: "REGISTRY_USERNAME", help: "a token name; repository verbs use the /v2/ API with its credentials" } satisfies FlagSpec,
          { name: "password", short: "p", kind: "string", value: "PASSWORD", env: "REGISTRY_PASSWORD", help: "that token's password" } satisfies FlagSpec,
        ]),
    { name: "registry", short: "r", kind: "string", value: "PROFILE", help: "the registry to talk to: a profile saved by `registry-admin login` (az's --registry)" },
    { name: "output", short: "o", kind: "string", choices: ["table", "json", "tsv"], value: "FORMAT", help: "table (default), json (the API's JSON) or tsv (with --query: one value to a shell variable)" },
    { name: "query", kind: "string", value: "PATH", help: "print only this part of the JSON, e.g. credentials.passwords[0].value (names and [index], as az's JMESPath)" },
    { name: "help", short: "h", kind: "boolean", help: "show this help" },
  ];
}

/** All of a command's flags: its own, then the common ones (its own win on a clash, e.g. import's --username). */
export function flagsOf(command: CommandSpec<unknown>): FlagSpec[] {
  const own = new Set(command.flags.map((flag) => flag.name));
  return [...command.flags, ...commonFlags(command.credentials).filter((flag) => !own.has(flag.name))];
}

export function parseCommandLine<Context>(argv: readonly string[], commands: readonly CommandSpec<Context>[]): ParseResult<Context> {
  const path: string[] = [];
  let index = 0;
  for (; index < argv.length && !argv[index]!.startsWith("-"); index++) {
    const word = argv[index]!;
    const candidate = [...path, word];
    if (!commands.some((command) => startsWith(command.path, candidate))) {
      const choices = nextWords(commands, path);
      throw new UsageError(
        path.length === 0
          ? `unknown command "${word}": use one of ${choices.join(", ")}`
          : `unknown command "${candidate.join(" ")}": after "${path.join(" ")}" use one of ${choices.join(", ")}`,
        path.length > 0 ? path.join(" ") : undefined,
      );
    }
    path.push(word);
    if (commands.some((command) => sameWords(command.path, path))) {
      index++;
      break;
    }
  }
  const rest = argv.slice(index);
  const command = commands.find((candidate) => sameWords(candidate.path, path));
  const wantsHelp = rest.some((arg) => arg === "--help" || arg === "-h");
  if (!command) {
    if (wantsHelp || path.length === 0) return { kind: "help", path };
    throw new UsageError(`"${path.join(" ")}" needs a verb: use one of ${nextWords(commands, path).join(", ")}`, path.join(" "));
  }
  if (wantsHelp) return { kind: "help", path, command };
  return { kind: "command", command, flags: parseFlags(rest, flagsOf(command as CommandSpec<unknown>), path.join(" ")) };
}

/** Reads flags against their specs; throws a UsageError naming the first problem (every missing required flag at once). */
export function parseFlags(args: readonly string[], specs: readonly FlagSpec[], command: string): Flags {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const spec of specs) {
    options[spec.name] = { type: spec.kind === "boolean" ? "boolean" : "string", ...(spec.short ? { short: spec.short } : {}) };
  }
  const { tokens } = parseArgs({ args: [...args], options, strict: false, allowPositionals: true, tokens: true });
  const values = new Map<string, FlagValue>();
  const fail = (message: string): never => {
    throw new UsageError(message, command);
  };
  /** The list or group that positionals after the last flag extend, if that flag takes several values. */
  let open: string[] | undefined;
  for (const token of tokens) {
    if (token.kind === "option-terminator") fail(`unexpected "--": values that start with "-" go as --flag=value`);
    if (token.kind === "positional") {
      if (!open) fail(`unexpected argument "${token.value}"${lastFlagHint(tokens, token.index)}`);
      open!.push(token.value);
      continue;
    }
    if (token.kind !== "option") continue;
    open = undefined;
    const spec = byName.get(token.name);
    if (!spec) fail(`unknown flag ${token.rawName} for "${command}"${suggestion(token.name, specs)}`);
    const flag = `--${spec!.name}`;
    const key = spec!.means ?? spec!.name;
    if (spec!.kind === "boolean") {
      if (token.value !== undefined) fail(`${flag} takes no value`);
      values.set(key, true);
      continue;
    }
    const value = token.value;
    if (value === undefined) fail(`${flag} needs a value${spec!.value ? ` (${spec!.value})` : ""}`);
    if (!token.inlineValue && value!.startsWith("-") && value!.length > 1) {
      fail(`${flag} needs a value, not the flag "${value}" (give a value that starts with "-" as ${flag}=VALUE)`);
    }
    if (spec!.kind === "string") {
      if (values.has(key)) fail(`${flag} was given more than once${key !== spec!.name ? ` (or with --${key})` : ""}`);
      values.set(key, checkChoice(spec!, value!, command));
    } else if (spec!.kind === "list") {
      const list = (values.get(key) as string[] | undefined) ?? [];
      list.push(value!);
      values.set(key, list);
      open = list;
    } else {
      const groups = (values.get(key) as string[][] | undefined) ?? [];
      const group = [value!];
      groups.push(group);
      values.set(key, groups);
      open = group;
    }
  }
  const missing = specs.filter((spec) => spec.required && !values.has(spec.name)).map((spec) => `--${spec.name}`);
  if (missing.length === 1) fail(`missing required flag ${missing[0]}`);
  if (missing.length > 1) fail(`missing required flags ${missing.join(", ")}`);
  return new Flags(values, command);
}

function checkChoice(spec: FlagSpec, value: string, command: string): string {
  if (!spec.choices) return value;
  const match = spec.choices.find((choice) => choice.toLowerCase() === value.toLowerCase());
  if (match === undefined) throw new UsageError(`--${spec.name} must be one of ${spec.choices.join(", ")}, not "${value}"`, command);
  return match;
}

function lastFlagHint(tokens: ReturnType<typeof parseArgs>["tokens"] & object, index: number): string {
  const before = tokens.filter((token) => token.index < index && token.kind === "option").pop();
  return before && before.kind === "option" ? ` (${before.rawName} takes one value)` : "";
}

/** az flags that have no counterpart here, with what to do instead (never a flag with another meaning). */
const AZ_ONLY: Record<string, string> = {
  "resource-group": "there are no resource groups here: the registry is --endpoint or a saved --registry",
  g: "there are no resource groups here: the registry is --endpoint or a saved --registry",
  subscription: "there are no subscriptions here: the registry is --endpoint or a saved --registry",
};

function suggestion(name: string, specs: readonly FlagSpec[]): string {
  if (AZ_ONLY[name]) return `: ${AZ_ONLY[name]}`;
  // A short name (-r) or a short word matches too much by containment or distance: only
  // flags that are plainly the same word misspelled are suggested.
  const close = name.length < 3 ? [] : specs.filter((spec) => (Math.min(spec.name.length, name.length) >= 4 && (spec.name.includes(name) || name.includes(spec.name))) || distance(spec.name, name) <= Math.min(2, Math.floor(name.length / 3)));
  return close.length > 0 ? `: did you mean ${close.map((spec) => `--${spec.name}`).join(" or ")}?` : "";
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

function startsWith(path: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((word, i) => path[i] === word);
}

function sameWords(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && startsWith(a, b);
}

/** The words that may follow `path`, in the order the commands are declared. */
export function nextWords(commands: readonly CommandSpec<unknown>[], path: readonly string[]): string[] {
  const words: string[] = [];
  for (const command of commands) {
    if (command.path.length > path.length && startsWith(command.path, path)) {
      const word = command.path[path.length]!;
      if (!words.includes(word)) words.push(word);
    }
  }
  return words;
}
