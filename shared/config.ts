/**
 * The app's settings, read from the environment (Azure app settings, or the local
 * stack) and validated once at start-up. A bad or missing setting stops the app with
 * one message that names every problem.
 */
import { z } from "zod";

const booleanSetting = z.enum(["true", "false"]).transform((value) => value === "true");

export const configSchema = z.object({
  COSMOS_ENDPOINT: z.url({ message: "must be the Cosmos DB account URL, e.g. https://<account>.documents.azure.com:443/" }),
  COSMOS_KEY: z.string({ message: "is required (the account key; the local stack sets it)" }).min(1),
  COSMOS_DATABASE: z.string().min(1).default("registry"),
  STORAGE_CONNECTION_STRING: z.string({ message: "is required (a Blob Storage connection string)" }).min(1),
  BLOB_CONTAINER: z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/, "must be a valid blob container name")
    .default("registry"),
  /** redirect: blob GETs answer 307 to a read-only SAS URL; stream: bytes flow through the app. */
  REGISTRY_BLOB_DELIVERY: z.enum(["redirect", "stream"]).default("redirect"),
  REGISTRY_READ_URL_SECONDS: z.coerce.number().int().min(30).max(3600).default(600),
  /** Off unless set: until the token server exists, nothing else can let clients in. */
  REGISTRY_ALLOW_ANONYMOUS: booleanSetting.default(false),
});

export type AppConfig = z.infer<typeof configSchema>;

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const result = configSchema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
}
