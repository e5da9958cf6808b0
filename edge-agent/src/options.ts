/**
 * The agent's start-up options, from flags and environment variables, checked in one go:
 * a bad value stops the agent with a message naming every problem (the password never
 * appears in it).
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { parseConnectionString, type ConnectionSettings } from "../../shared/domain/connected-registry/index.js";
import { HTTP_LIMIT_DEFAULTS, headersFitRequest, httpLimitFields, httpLimits, type HttpLimits } from "../../shared/http/limits.js";
import { LOGIN_LIMIT_DEFAULTS, loginLimitFields } from "../../shared/auth/login-limits.js";
import { ProxySettingsError, proxyFromEnvironment, type ProxySettings } from "../../shared/remote/proxy.js";
import { parseBandwidth, parseSize } from "../../shared/domain/quantities.js";
import { readConnectionSource } from "./connection-source.js";
import { LOG_THRESHOLDS, type LogThreshold } from "./log.js";

export interface StartOptions {
  connection: ConnectionSettings;
  dataDir: string;
  host: string;
  port: number;
  /** The PEM pair as read at start, and where it lives: the agent serves renewals of those files (certificate-reloader.ts). */
  tls?: { cert: Buffer; key: Buffer; certPath: string; keyPath: string; checkIntervalSeconds: number };
  parentCa?: Buffer;
  /** The outbound proxy to the parent, from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (shared/remote/proxy.ts). */
  proxy?: ProxySettings;
  logLevel?: LogThreshold;
  /** Seconds between feed reads in continuous mode. */
  syncIntervalSeconds: number;
  /** Parallel blob downloads. */
  concurrency: number;
  /** host[:port] where clients and children reach this agent; reported to the parent for children's get-settings. */
  loginServer?: string;
  /** Timeouts for clients that stop sending, and the per-address upload cap (shared/http/limits.ts). */
  httpLimits: HttpLimits;
  /** Failed-login limits and the password-check threads (shared/auth/attempt-limiter.ts, password-check-pool.ts). */
  logins: LoginLimits;
  /** The most the sync may use, in bytes per second (--max-bandwidth); the resource's syncBandwidth may set it lower. */
  maxBandwidth?: number;
  /** The content store's budget in bytes (--max-storage); none when not given (store/disk-guard.ts). */
  maxStorageBytes?: number;
  /** Free bytes the volume must keep (--min-free-space); undefined: 5% of the volume, at most 1 GiB. */
  minFreeBytes?: number;
  /** Bytes per PATCH of the upstream push (--upstream-chunk-size); default 8 MiB (sync/chunked-upload.ts). */
  upstreamChunkBytes?: number;
  /** Pull-through on a miss (pull-through/): false with --no-pull-through; default on, 4 parallel downloads. */
  pullThrough?: false | { concurrency: number };
}

export interface LoginLimits {
  failureWindowSeconds: number;
  failuresPerAddress: number;
  failuresPerToken: number;
  refusalDelayMs: number;
  passwordCheckWorkers: number;
}

export class OptionsError extends Error {}

const DEFAULT_DATA_DIR = "connected-registry-data";

const numbers = z.object({
  port: z.coerce.number().int().min(0).max(65535),
  syncInterval: z.coerce.number().min(0.1).max(3600),
  concurrency: z.coerce.number().int().min(1).max(64),
  headersTimeout: httpLimitFields.headersTimeoutSeconds,
  requestTimeout: httpLimitFields.requestTimeoutSeconds,
  bodyIdleTimeout: httpLimitFields.bodyIdleTimeoutSeconds,
  maxUploadsPerClient: httpLimitFields.maxUploadsPerClient,
  loginFailureWindow: loginLimitFields.failureWindowSeconds,
  loginFailuresPerAddress: loginLimitFields.failuresPerAddress,
  loginFailuresPerToken: loginLimitFields.failuresPerToken,
  loginRefusalDelayMs: loginLimitFields.refusalDelayMs,
  passwordCheckWorkers: loginLimitFields.passwordCheckWorkers,
  tlsCheckInterval: z.coerce.number().min(1).max(24 * 3600),
  pullThroughConcurrency: z.coerce.number().int().min(1).max(64),
});

/** The flag of each number, for messages ("--body-idle-timeout", not "bodyIdleTimeout"). */
const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;

export async function parseStartOptions(args: string[], env: NodeJS.ProcessEnv): Promise<StartOptions> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      "connection-string": { type: "string" },
      "connection-string-file": { type: "string" },
      data: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      http: { type: "boolean" },
      "parent-ca": { type: "string" },
      "log-level": { type: "string" },
      "sync-interval": { type: "string" },
      concurrency: { type: "string" },
      "login-server": { type: "string" },
      "headers-timeout": { type: "string" },
      "request-timeout": { type: "string" },
      "body-idle-timeout": { type: "string" },
      "max-uploads-per-client": { type: "string" },
      "login-failure-window": { type: "string" },
      "login-failures-per-address": { type: "string" },
      "login-failures-per-token": { type: "string" },
      "login-refusal-delay-ms": { type: "string" },
      "password-check-workers": { type: "string" },
      "tls-check-interval": { type: "string" },
      "max-bandwidth": { type: "string" },
      "max-storage": { type: "string" },
      "min-free-space": { type: "string" },
      "upstream-chunk-size": { type: "string" },
      "pull-through-concurrency": { type: "string" },
      "no-pull-through": { type: "boolean" },
    },
  });
  const problems: string[] = [];
  const source = await readConnectionSource({ text: values["connection-string"], file: values["connection-string-file"] }, env);
  let connection: ConnectionSettings | undefined;
  if (!source.ok) problems.push(source.problem);
  else {
    const parsed = parseConnectionString(source.text);
    if (parsed.ok) connection = parsed.settings;
    else problems.push(`the connection string from ${source.from}: ${parsed.message}`);
  }
  const parsedNumbers = numbers.safeParse({
    port: values.port ?? env.CONNECTED_REGISTRY_PORT ?? 8080,
    syncInterval: values["sync-interval"] ?? 2,
    // 6: on a small machine each download's buffers are fresh memory, and fewer at once finish
    // sooner (first sync of 10 images, 2 cores: 6 and 4 took 0.92-0.96 of 8's time, 6 ahead);
    // still twice docker's and containerd's 3 for a link with a long round trip.
    concurrency: values.concurrency ?? 6,
    headersTimeout: values["headers-timeout"] ?? HTTP_LIMIT_DEFAULTS.headersTimeoutSeconds,
    requestTimeout: values["request-timeout"] ?? HTTP_LIMIT_DEFAULTS.requestTimeoutSeconds,
    bodyIdleTimeout: values["body-idle-timeout"] ?? HTTP_LIMIT_DEFAULTS.bodyIdleTimeoutSeconds,
    maxUploadsPerClient: values["max-uploads-per-client"] ?? HTTP_LIMIT_DEFAULTS.maxUploadsPerClient,
    // The cloud's defaults (shared/auth/login-limits.ts).
    loginFailureWindow: values["login-failure-window"] ?? LOGIN_LIMIT_DEFAULTS.failureWindowSeconds,
    loginFailuresPerAddress: values["login-failures-per-address"] ?? LOGIN_LIMIT_DEFAULTS.failuresPerAddress,
    loginFailuresPerToken: values["login-failures-per-token"] ?? LOGIN_LIMIT_DEFAULTS.failuresPerToken,
    loginRefusalDelayMs: values["login-refusal-delay-ms"] ?? LOGIN_LIMIT_DEFAULTS.refusalDelayMs,
    // One: an edge box is small, and its file reads must keep a core.
    passwordCheckWorkers: values["password-check-workers"] ?? 1,
    // The fallback for renewals fs.watch does not see; a stat of two files costs nothing.
    tlsCheckInterval: values["tls-check-interval"] ?? 60,
    pullThroughConcurrency: values["pull-through-concurrency"] ?? 4,
  });
  if (!parsedNumbers.success) problems.push(...parsedNumbers.error.issues.map((issue) => `${flagOf(String(issue.path[0]))}: ${issue.message}`));
  const limitSeconds = parsedNumbers.success
    ? {
        headersTimeoutSeconds: parsedNumbers.data.headersTimeout,
        requestTimeoutSeconds: parsedNumbers.data.requestTimeout,
        bodyIdleTimeoutSeconds: parsedNumbers.data.bodyIdleTimeout,
        maxUploadsPerClient: parsedNumbers.data.maxUploadsPerClient,
      }
    : undefined;
  if (limitSeconds && !headersFitRequest(limitSeconds)) problems.push("--headers-timeout must not exceed --request-timeout (unless that is 0, no bound)");

  const logLevel = values["log-level"] ?? env.CONNECTED_REGISTRY_LOG_LEVEL;
  if (logLevel !== undefined && !(LOG_THRESHOLDS as readonly string[]).includes(logLevel)) problems.push(`--log-level must be one of ${LOG_THRESHOLDS.join(", ")}, not "${logLevel}"`);

  const certPath = values["tls-cert"];
  const keyPath = values["tls-key"];
  if ((certPath === undefined) !== (keyPath === undefined)) problems.push("--tls-cert and --tls-key go together");
  if (certPath === undefined && !values.http) problems.push("give --tls-cert and --tls-key to serve HTTPS, or --http to serve plain HTTP on a trusted network");
  if (certPath !== undefined && values.http) problems.push("--http and --tls-cert exclude each other");
  const tlsFiles = certPath && keyPath ? { certPath: resolve(certPath), keyPath: resolve(keyPath), cert: await readPem(certPath, "--tls-cert", problems), key: await readPem(keyPath, "--tls-key", problems) } : undefined;
  const parentCa = values["parent-ca"] ? await readPem(values["parent-ca"], "--parent-ca", problems) : undefined;

  let proxy: ProxySettings | undefined;
  try {
    proxy = proxyFromEnvironment(env);
  } catch (error) {
    if (!(error instanceof ProxySettingsError)) throw error;
    problems.push(error.message);
  }

  // ACR_REGISTRY_LOGIN_SERVER is what ACR's get-settings (and ours) names it.
  const loginServer = values["login-server"] ?? (env.CONNECTED_REGISTRY_LOGIN_SERVER || undefined) ?? (env.ACR_REGISTRY_LOGIN_SERVER || undefined);
  if (loginServer !== undefined && !/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:]+\](:\d{1,5})?$/.test(loginServer)) {
    problems.push(`--login-server must be host or host:port (no scheme, no path), not "${loginServer}"`);
  }

  const bandwidthText = values["max-bandwidth"] ?? (env.CONNECTED_REGISTRY_MAX_BANDWIDTH || undefined);
  const bandwidth = bandwidthText === undefined ? undefined : parseBandwidth(bandwidthText);
  if (bandwidth && !bandwidth.ok) problems.push(`--max-bandwidth: ${bandwidth.problem}`);
  const maxStorageBytes = sizeOption("--max-storage", values["max-storage"] ?? (env.CONNECTED_REGISTRY_MAX_STORAGE || undefined), problems);
  const minFreeBytes = sizeOption("--min-free-space", values["min-free-space"] ?? (env.CONNECTED_REGISTRY_MIN_FREE_SPACE || undefined), problems, { zero: true });
  const upstreamChunkBytes = sizeOption("--upstream-chunk-size", values["upstream-chunk-size"] ?? (env.CONNECTED_REGISTRY_UPSTREAM_CHUNK_SIZE || undefined), problems);

  if (problems.length > 0 || !connection || !parsedNumbers.success || !limitSeconds) throw new OptionsError(problems.join("\n"));
  return {
    connection,
    dataDir: resolve(values.data ?? env.CONNECTED_REGISTRY_DATA ?? DEFAULT_DATA_DIR),
    host: values.host ?? "0.0.0.0",
    port: parsedNumbers.data.port,
    ...(tlsFiles ? { tls: { ...tlsFiles, checkIntervalSeconds: parsedNumbers.data.tlsCheckInterval } } : {}),
    ...(parentCa ? { parentCa } : {}),
    ...(proxy ? { proxy } : {}),
    ...(logLevel ? { logLevel: logLevel as LogThreshold } : {}),
    syncIntervalSeconds: parsedNumbers.data.syncInterval,
    concurrency: parsedNumbers.data.concurrency,
    ...(loginServer ? { loginServer } : {}),
    httpLimits: httpLimits(limitSeconds),
    logins: {
      failureWindowSeconds: parsedNumbers.data.loginFailureWindow,
      failuresPerAddress: parsedNumbers.data.loginFailuresPerAddress,
      failuresPerToken: parsedNumbers.data.loginFailuresPerToken,
      refusalDelayMs: parsedNumbers.data.loginRefusalDelayMs,
      passwordCheckWorkers: parsedNumbers.data.passwordCheckWorkers,
    },
    ...(bandwidth?.ok ? { maxBandwidth: bandwidth.value } : {}),
    ...(maxStorageBytes !== undefined ? { maxStorageBytes } : {}),
    ...(minFreeBytes !== undefined ? { minFreeBytes } : {}),
    ...(upstreamChunkBytes !== undefined ? { upstreamChunkBytes } : {}),
    pullThrough: values["no-pull-through"] ? false : { concurrency: parsedNumbers.data.pullThroughConcurrency },
  };
}

export function parseStatusOptions(args: string[], env: NodeJS.ProcessEnv): { dataDir: string; json: boolean; waitSeconds?: number } {
  const { values } = parseArgs({ args, strict: true, options: { data: { type: "string" }, output: { type: "string" }, wait: { type: "string" } } });
  if (values.wait !== undefined && !/^\d+$/.test(values.wait)) throw new OptionsError(`--wait: a number of seconds, not "${values.wait}"`);
  return { dataDir: resolve(values.data ?? env.CONNECTED_REGISTRY_DATA ?? DEFAULT_DATA_DIR), json: values.output === "json", ...(values.wait !== undefined ? { waitSeconds: Number(values.wait) } : {}) };
}

async function readPem(path: string, flag: string, problems: string[]): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    problems.push(`${flag}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    return Buffer.alloc(0);
  }
}

/** A size flag (parseSize); `zero` allows "0" (a floor turned off). */
function sizeOption(flag: string, text: string | undefined, problems: string[], options: { zero?: boolean } = {}): number | undefined {
  if (text === undefined) return undefined;
  if (options.zero && /^\s*0+(\.0+)?\s*([KMGT]i?B|B)?\s*$/i.test(text)) return 0;
  const parsed = parseSize(text);
  if (!parsed.ok) problems.push(`${flag}: ${parsed.problem}`);
  return parsed.ok ? parsed.value : undefined;
}
