/**
 * What a command runs with: its flags, where output goes, and the clients, built on first
 * use from flags or the environment (a missing endpoint or credential is a usage error
 * that names both the flag and the variable).
 */
import type { Flags } from "./args.js";
import { ManagementApi, normalizeEndpoint, RegistryApi, type FetchLike } from "./client.js";
import { UsageError } from "./errors.js";
import type { Profile } from "./profiles.js";
import { selectQuery, toTsv } from "./query.js";

/**
 * An endpoint as a URL with its scheme: a bare host is https://host, as az takes a login
 * server; anything that is not http(s) is refused here, not by OpenSSL later.
 */
export function checkedEndpoint(endpoint: string, command: string): string {
  const normalized = normalizeEndpoint(endpoint);
  let url: URL;
  try {
    url = new URL(normalized);
  } catch {
    throw new UsageError(`"${endpoint}" is not a URL: give the registry as http://HOST:PORT or https://HOST`, command);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`"${endpoint}" is not an http:// or https:// URL: use http:// or https://`, command);
  return normalized;
}

export interface CliIO {
  /** Where `login` reads the admin key when it is not a terminal (a pipe, a file). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
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
    /** The saved registry (profiles.ts) that --registry names, or the default one. */
    readonly profile?: Profile & { name: string },
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

  /**
   * Which registry: --endpoint, else the profile --registry names, else REGISTRY_ENDPOINT,
   * else the profile of the last `registry-admin login`. A flag beats the environment,
   * which beats a default nobody named.
   */
  endpoint(): string {
    const named = this.flags.has("registry") ? this.profile?.endpoint : undefined;
    const endpoint = this.flags.string("endpoint") ?? named ?? (this.io.env.REGISTRY_ENDPOINT || undefined) ?? this.profile?.endpoint;
    if (endpoint === undefined) {
      throw new UsageError("missing required flag --endpoint (or set REGISTRY_ENDPOINT, or save it once with registry-admin login --endpoint URL): the registry's URL", this.flags.command);
    }
    return checkedEndpoint(endpoint, this.flags.command);
  }

  /** The admin key: --admin-key, else the named profile's, else REGISTRY_ADMIN_KEY, else the default profile's if it is for this endpoint. */
  adminKey(endpoint: string): string {
    const fromProfile = this.profile && normalizeEndpoint(this.profile.endpoint) === endpoint ? this.profile.adminKey : undefined;
    const key = this.flags.string("admin-key") ?? (this.flags.has("registry") ? fromProfile : undefined) ?? (this.io.env.REGISTRY_ADMIN_KEY || undefined) ?? fromProfile;
    if (key === undefined || key === "") {
      throw new UsageError("missing required flag --admin-key (or set REGISTRY_ADMIN_KEY, or save it once with registry-admin login): the admin key", this.flags.command);
    }
    return key;
  }

  management(): ManagementApi {
    const endpoint = this.endpoint();
    return new ManagementApi(endpoint, this.adminKey(endpoint), this.io.fetch);
  }

  /** The /v2/ API, with a token's credentials: the management API has no repository endpoints. */
  registry(): RegistryApi {
    const endpoint = this.endpoint();
    const username = this.requiredSetting("username", "REGISTRY_USERNAME", "a token that may read (and, to delete, delete) the repositories");
    const password = this.requiredSetting("password", "REGISTRY_PASSWORD", "that token's password");
    return new RegistryApi(endpoint, username, password, this.io.fetch);
  }

  /** `--output json`: the value as JSON; `--query`/`--output tsv`: a part of it, as az prints it; otherwise what `human` renders. */
  print(value: unknown, human: () => string): void {
    const query = this.flags.string("query");
    const format = this.flags.string("output") ?? "table";
    if (query === undefined && format === "table") {
      this.io.stdout.write(human());
      return;
    }
    const selected = query === undefined ? value : selectQuery(value, query, this.flags.command);
    this.io.stdout.write(format === "tsv" ? toTsv(selected) : `${JSON.stringify(selected, null, 2)}\n`);
  }

  /** A progress or status line for people: stderr, so stdout stays the result. */
  note(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }
}

/** A path segment of the management API. */
export const segment = (name: string): string => encodeURIComponent(name);
