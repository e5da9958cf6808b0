/**
 * The app's settings, read from the environment (Azure app settings, or the local
 * stack) and validated once at start-up. A bad or missing setting stops the app with
 * one message that names every problem.
 */
import { LOGIN_LIMIT_DEFAULTS, loginLimitFields } from "./auth/login-limits.js";
import { z } from "zod";
import { HTTP_LIMIT_DEFAULTS, headersFitRequest, httpLimitFields, httpLimits, type HttpLimits } from "./http/limits.js";

const booleanSetting = z.enum(["true", "false"]).transform((value) => value === "true");

export const configSchema = z
  .object({
  COSMOS_ENDPOINT: z.url({ message: "must be the Cosmos DB account URL, e.g. https://<account>.documents.azure.com:443/" }),
  /** The account key (the local stack); absent in Azure, where the managed identity signs in (DefaultAzureCredential). */
  COSMOS_KEY: z.string().min(1).optional(),
  COSMOS_DATABASE: z.string().min(1).default("registry"),
  /** A connection string (the local stack); in Azure, the two endpoints below with the managed identity instead. */
  STORAGE_CONNECTION_STRING: z.string().min(1).optional(),
  STORAGE_BLOB_ENDPOINT: z.url({ message: "must be the Blob service URL, e.g. https://<account>.blob.core.windows.net/" }).optional(),
  STORAGE_QUEUE_ENDPOINT: z.url({ message: "must be the Queue service URL, e.g. https://<account>.queue.core.windows.net/" }).optional(),
  /**
   * How the app signs in to Storage when there is no connection string: default
   * (DefaultAzureCredential: the managed identity in Azure) or emulator (Azurite's OAuth mode,
   * the local stack's identity profile; shared/store/emulator-credential.ts).
   */
  STORAGE_CREDENTIAL: z.enum(["default", "emulator"], { message: "must be default (DefaultAzureCredential) or emulator (Azurite in OAuth mode)" }).default("default"),
  /** The Storage queue that carries import operations to the worker. */
  IMPORT_QUEUE: z.string().regex(/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/, "must be a Storage queue name: 3-63 lowercase letters, digits and single hyphens").default("imports"),
  /** Unreferenced blobs are marked, and deleted no sooner than this after the mark (blob-gc.ts). */
  BLOB_GC_GRACE_SECONDS: z.coerce.number().int().min(1).max(30 * 24 * 3600).default(3600),
  BLOB_CONTAINER: z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/, "must be a valid blob container name")
    .default("registry"),
  /** redirect: blob GETs answer 307 to a read-only SAS URL; stream: bytes flow through the app. */
  REGISTRY_BLOB_DELIVERY: z.enum(["redirect", "stream"]).default("redirect"),
  REGISTRY_READ_URL_SECONDS: z.coerce.number().int().min(30).max(3600).default(600),
  /** Development only: every client may do everything without credentials. */
  REGISTRY_ALLOW_ANONYMOUS: booleanSetting.default(false),
  /** Clients without credentials may pull (and list) every repository, as ACR's anonymous pull. */
  REGISTRY_ANONYMOUS_PULL: booleanSetting.default(false),
  /** The registry's id in the identity store (scope maps, tokens and their limits are per registry). */
  REGISTRY_NAME: z.string().regex(/^[a-zA-Z0-9-]{1,50}$/, "must be 1-50 letters, digits and -").default("registry"),
  /** The host clients use (tokens' audience, challenges' service); default: the request's Host. */
  REGISTRY_LOGIN_SERVER: z.string().min(1).optional(),
  /** EC P-256 private key in PEM (ES256): a Key Vault reference in Azure, a generated file locally. */
  TOKEN_SIGNING_KEY: z
    .string({ message: "is required (an EC P-256 private key in PEM; the local stack generates one)" })
    .transform((pem) => pem.replaceAll("\\n", "\n"))
    .refine((pem) => pem.includes("-----BEGIN") && pem.includes("PRIVATE KEY-----"), "must be a PEM private key"),
  /**
   * During a key rotation only: the previous signing key. Tokens it signed still verify (and it
   * stays in the JWKS) until it is removed, after REFRESH_TOKEN_SECONDS (docs/operations.md).
   */
  TOKEN_SIGNING_KEY_PREVIOUS: z
    .string()
    .transform((pem) => pem.replaceAll("\\n", "\n"))
    .refine((pem) => pem.includes("-----BEGIN") && pem.includes("PRIVATE KEY-----"), "must be a PEM private key")
    .optional(),
  ACCESS_TOKEN_SECONDS: z.coerce.number().int().min(60).max(3600).default(300),
  REFRESH_TOKEN_SECONDS: z.coerce.number().int().min(300).max(7 * 24 * 3600).default(3 * 3600),
  /** How long an instance trusts what it looked up about a token: the bound on revocation. */
  TOKEN_STATE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
  /**
   * Failed logins (wrong password, unknown token) count for this long per client address and
   * per token name, from the first failure (shared/auth/attempt-limiter.ts, docs/identity.md).
   */
  LOGIN_FAILURE_WINDOW_SECONDS: loginLimitFields.failureWindowSeconds.default(LOGIN_LIMIT_DEFAULTS.failureWindowSeconds),
  /** Failures from one address within the window after which it gets 429 for the rest of it. */
  LOGIN_FAILURES_PER_ADDRESS: loginLimitFields.failuresPerAddress.default(LOGIN_LIMIT_DEFAULTS.failuresPerAddress),
  /** Failures for one token name within the window after which addresses that failed get 429 for it. */
  LOGIN_FAILURES_PER_TOKEN: loginLimitFields.failuresPerToken.default(LOGIN_LIMIT_DEFAULTS.failuresPerToken),
  /** A refusal for too many failed logins is answered after this long (at most its Retry-After): a flood slows to connections/second. */
  LOGIN_REFUSAL_DELAY_MS: loginLimitFields.refusalDelayMs.default(LOGIN_LIMIT_DEFAULTS.refusalDelayMs),
  /** Threads that run password checks (scrypt), off libuv's pool; at most this many at once. */
  PASSWORD_CHECK_WORKERS: loginLimitFields.passwordCheckWorkers.default(LOGIN_LIMIT_DEFAULTS.passwordCheckWorkers),
  /** Password checks that may wait for a thread; beyond this, 429. */
  PASSWORD_CHECK_QUEUE: z.coerce.number().int().min(0).max(10_000).default(32),
  /** A wrong name/password pair is refused again without scrypt for this long (0: off). */
  REFUSED_PASSWORD_CACHE_SECONDS: z.coerce.number().int().min(0).max(300).default(10),
  /** The admin key's scrypt hash (never the key itself). */
  ADMIN_KEY_HASH: z.string().regex(/^scrypt\$\d+\$\d+\$\d+\$[^$]+\$[^$]+$/, "must be a scrypt hash: scrypt$N$r$p$salt$hash").optional(),
  /** How long the change log waits for a writer before settling its entry (docs/sync-protocol.md). */
  CHANGE_FEED_GRACE_SECONDS: z.coerce.number().int().min(1).max(600).default(30),
  /**
   * The local host's connection limits (shared/http/limits.ts); in Azure the Functions front end
   * owns connections and these are not used.
   */
  HTTP_HEADERS_TIMEOUT_SECONDS: httpLimitFields.headersTimeoutSeconds.default(HTTP_LIMIT_DEFAULTS.headersTimeoutSeconds),
  HTTP_REQUEST_TIMEOUT_SECONDS: httpLimitFields.requestTimeoutSeconds.default(HTTP_LIMIT_DEFAULTS.requestTimeoutSeconds),
  HTTP_BODY_IDLE_TIMEOUT_SECONDS: httpLimitFields.bodyIdleTimeoutSeconds.default(HTTP_LIMIT_DEFAULTS.bodyIdleTimeoutSeconds),
  HTTP_MAX_UPLOADS_PER_CLIENT: httpLimitFields.maxUploadsPerClient.default(HTTP_LIMIT_DEFAULTS.maxUploadsPerClient),
  /** Waits before each webhook delivery retry, in seconds (docs/events.md); attempts = count + 1. */
  WEBHOOK_RETRY_SECONDS: z
    .string()
    .regex(/^\d+(\.\d+)?(,\d+(\.\d+)?){0,19}$/, "must be up to 20 comma-separated numbers of seconds, such as 1,10,60,300")
    .transform((text) => text.split(",").map(Number))
    .default([1, 10, 60, 300, 900, 3600, 10800]),
  /** A webhook receiver that has not answered in this long counts as a failed attempt. */
  WEBHOOK_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(120).default(10),
  ADMIN_ENTRA_ISSUER: z.url().optional(),
  ADMIN_ENTRA_AUDIENCE: z.string().min(1).optional(),
  ADMIN_ENTRA_JWKS_URL: z.url().optional(),
})
  .refine((config) => config.STORAGE_CONNECTION_STRING !== undefined || (config.STORAGE_BLOB_ENDPOINT !== undefined && config.STORAGE_QUEUE_ENDPOINT !== undefined), {
    message: "is required, or else both STORAGE_BLOB_ENDPOINT and STORAGE_QUEUE_ENDPOINT (with a managed identity)",
    path: ["STORAGE_CONNECTION_STRING"],
    // Checked even when other settings are bad, so one message names every problem.
    when: (payload) => typeof payload.value === "object" && payload.value !== null,
  })
  .refine((config) => config.STORAGE_CREDENTIAL === "default" || config.STORAGE_CONNECTION_STRING === undefined, {
    message: "emulator signs in with a token: set STORAGE_BLOB_ENDPOINT and STORAGE_QUEUE_ENDPOINT, not STORAGE_CONNECTION_STRING",
    path: ["STORAGE_CREDENTIAL"],
  })
  .refine(
  (config) => [config.ADMIN_ENTRA_ISSUER, config.ADMIN_ENTRA_AUDIENCE, config.ADMIN_ENTRA_JWKS_URL].filter(Boolean).length % 3 === 0,
  { message: "set all three of ADMIN_ENTRA_ISSUER, ADMIN_ENTRA_AUDIENCE and ADMIN_ENTRA_JWKS_URL, or none", path: ["ADMIN_ENTRA_ISSUER"] },
)
  .refine(
    (config) => headersFitRequest({ headersTimeoutSeconds: config.HTTP_HEADERS_TIMEOUT_SECONDS, requestTimeoutSeconds: config.HTTP_REQUEST_TIMEOUT_SECONDS }),
    { message: "must not exceed HTTP_REQUEST_TIMEOUT_SECONDS (unless that is 0, no bound)", path: ["HTTP_HEADERS_TIMEOUT_SECONDS"] },
  );

export type AppConfig = z.infer<typeof configSchema>;

/** The local host's limits from the settings (startLocalHost's `limits`). */
export function httpLimitsOf(config: AppConfig): HttpLimits {
  return httpLimits({
    headersTimeoutSeconds: config.HTTP_HEADERS_TIMEOUT_SECONDS,
    requestTimeoutSeconds: config.HTTP_REQUEST_TIMEOUT_SECONDS,
    bodyIdleTimeoutSeconds: config.HTTP_BODY_IDLE_TIMEOUT_SECONDS,
    maxUploadsPerClient: config.HTTP_MAX_UPLOADS_PER_CLIENT,
  });
}

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const result = configSchema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
}
