/**
 * What a command runs with: its flags, where output goes, and the clients, built on first
 * use from flags or the environment (a missing endpoint or credential is a usage error
 * that names both the flag and the variable).
 */
import type { Flags } from "./args.js";
import { ManagementApi, normalizeEndpoint, RegistryApi, type FetchLike } from "./client.js";
import { UsageError } from "./errors.js";

export interface CliIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  env: Readonly<Record<string, string | undefined>>;
  fetch?: FetchLike;
  /** Waits between polls (import); replaceable in tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
}

export class CommandContext {
  constructor(
    readonly flags: Flags,
    readonly io: CliIO,
  ) {}

  get json(): boolean {
    return this.flags.string("output") === "json";
  }

  now(): Date {
    return this.io.now?.() ?? new Date();
  }

  sleep(ms: number): Promise<void> {
    return this.io.sleep?.(ms) ?? new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** A flag's value, else its environment variable's (an empty variable counts as unset). */
  setting(flag: string, variable: string): string | undefined {
    return this.flags.string(flag) ?? (this.io.env[variable] || undefined);
  }

  private requiredSetting(flag: string, variable: string, what: string): string {
    const value = this.setting(flag, variable);
    if (value === undefined || value === "") throw new UsageError(`missing required flag --${flag} (or set ${variable}): ${what}`, this.flags.command);
    return value;
  }

  endpoint(): string {
    return normalizeEndpoint(this.requiredSetting("endpoint", "REGISTRY_ENDPOINT", "the registry's URL"));
  }

  management(): ManagementApi {
    return new ManagementApi(this.endpoint(), this.requiredSetting("admin-key", "REGISTRY_ADMIN_KEY", "the admin key"), this.io.fetch);
  }

  /** The /v2/ API, with a token's credentials: the management API has no repository endpoints. */
  registry(): RegistryApi {
    const endpoint = this.endpoint();
    const username = this.requiredSetting("username", "REGISTRY_USERNAME", "a token that may read (and, to delete, delete) the repositories");
    const password = this.requiredSetting("password", "REGISTRY_PASSWORD", "that token's password");
    return new RegistryApi(endpoint, username, password, this.io.fetch);
  }

  /** `--output json`: the value as JSON; otherwise what `human` renders. */
  print(value: unknown, human: () => string): void {
    this.io.stdout.write(this.json ? `${JSON.stringify(value, null, 2)}\n` : human());
  }

  /** A progress or status line for people: stderr, so stdout stays the result. */
  note(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }
}

/** A path segment of the management API. */
export const segment = (name: string): string => encodeURIComponent(name);
