/**
 * What is wrong at this edge right now, as codes an operator can alert on. The agent's parts
 * set and clear them (the disk guard, the sync loop, the certificate reloader); GET /status,
 * `connected-registry status`, /metrics and the heartbeat to the parent (the cloud's
 * `statusDetails`) all show the same list.
 */
export const CONDITION_CODES = [
  /** The storage budget or the volume's free-space floor is reached: no new content is fetched. */
  "DISK_STORAGE_FULL",
  /** A write failed (ENOSPC, EIO, EROFS): nothing partial was left visible. */
  "DISK_ERROR",
  /** The parent could not be reached (network, DNS, TLS, proxy). */
  "PARENT_UNREACHABLE",
  /** A sync cycle failed for another reason (the parent refused it, bad content). */
  "SYNC_FAILED",
  /** The serving certificate expires soon. */
  "CERTIFICATE_EXPIRING",
] as const;

export type ConditionCode = (typeof CONDITION_CODES)[number];

export interface Condition {
  code: ConditionCode;
  description: string;
  /** When it began (it keeps this while it lasts). */
  since: string;
}

/** The state's list with `code` set to `description` (its `since` kept while it lasts). */
export function withCondition(conditions: readonly Condition[] | undefined, code: ConditionCode, description: string, now = new Date()): Condition[] {
  const existing = conditions?.find((condition) => condition.code === code);
  return [...(conditions ?? []).filter((condition) => condition.code !== code), { code, description, since: existing?.since ?? now.toISOString() }];
}

export function withoutCondition(conditions: readonly Condition[] | undefined, code: ConditionCode): Condition[] {
  return (conditions ?? []).filter((condition) => condition.code !== code);
}
