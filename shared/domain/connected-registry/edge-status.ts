/**
 * What an edge reports about itself in its status call (docs/sync-protocol.md, section 6),
 * and what the cloud keeps of it on the connected registry: whether it is syncing and how
 * far, its disk usage, how far behind its parent it is, what started its last sync, and
 * its conditions by code. Every field beyond `instanceId` and `state` is optional, so the
 * bodies of agents older than these fields stay valid.
 */
import { z } from "zod";

/** The edge's condition codes (edge-agent/src/conditions.ts), as the cloud shows them in statusDetails. */
export const EDGE_STATUS_CODES = ["DISK_STORAGE_FULL", "DISK_ERROR", "PARENT_UNREACHABLE", "SYNC_FAILED", "CERTIFICATE_EXPIRING"] as const;

/** What started a sync: the first one, the schedule (or the continuous loop), an operator's resync, an expired cursor. */
export const SYNC_TRIGGERS = ["initial", "scheduled", "manual", "cursorExpired"] as const;
export type SyncTrigger = (typeof SYNC_TRIGGERS)[number];

const count = z.number().int().nonnegative();
const bytes = z.number().nonnegative();

export const syncProgressSchema = z.object({
  phase: z.enum(["idle", "full-sync", "feed", "upstream"]),
  objectsDone: count,
  objectsTotal: count,
  bytesDone: bytes,
  /** What the objects listed so far will take; grows as a full sync lists more of them. */
  bytesTotal: bytes,
});

export const edgeUsageSchema = z.object({
  bytes,
  repositories: count,
  /** Free space on the edge's data volume (statfs), when the edge could read it. */
  freeBytes: bytes.optional(),
});

export const syncLagSchema = z.object({
  /** Entries of the parent's change log the edge has not applied yet (any repository: an upper bound for its scope). */
  changes: count,
  /** Age of the oldest change the edge knows of and has not applied; null when it is up to date or cannot know. */
  oldestChangeAgeSeconds: z.number().nonnegative().nullable(),
});

export const edgeConditionReportSchema = z.object({
  code: z.enum(EDGE_STATUS_CODES),
  description: z.string().max(2000),
  since: z.string().max(40),
  /** The same id is in the edge's log line that reported the condition: it matches the two. */
  correlationId: z.string().min(1).max(100),
});

/**
 * An image that arrived at or left the edge and matched its notifications (docs/events.md);
 * the id is the edge's, kept across resends, so the cloud queues each event once.
 */
export const edgeEventReportSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9-]{8,64}$/, "must be 8-64 letters, digits and -"),
  timestamp: z.iso.datetime({ offset: true }),
  action: z.enum(["push", "delete"]),
  repository: z.string().min(1).max(256),
  tag: z.string().max(128).optional(),
  digest: z.string().max(200).optional(),
  mediaType: z.string().max(255).optional(),
  size: z.number().int().nonnegative().optional(),
});

export const MAX_EVENTS_PER_REPORT = 100;

export const edgeStatusReportSchema = z.object({
  instanceId: z.string(),
  state: z.enum(["Online", "Syncing"]),
  lastSyncTime: z.iso.datetime({ offset: true }).optional(),
  lastError: z.string().max(2000).optional(),
  /** Objects the edge skipped because they could not be synced (it goes on with the rest). */
  failures: z.array(z.object({ item: z.string().max(600), error: z.string().max(1000), since: z.string().max(40).optional() })).max(50).optional(),
  usage: edgeUsageSchema.optional(),
  progress: syncProgressSchema.optional(),
  lag: syncLagSchema.optional(),
  trigger: z.enum(SYNC_TRIGGERS).optional(),
  /** The edge's conditions now; an empty list clears them. Agents that send none are judged by lastError as before. */
  details: z.array(edgeConditionReportSchema).max(20).optional(),
  /** Notifications to deliver; the answer's `eventsAccepted` says how many the parent queued (all, or none). */
  events: z.array(edgeEventReportSchema).max(MAX_EVENTS_PER_REPORT).optional(),
  /** The digest of what the edge holds (edge-inventory.ts); the answer's `inventoryWanted` asks for the full inventory. */
  inventoryDigest: z.string().regex(/^sha256:[0-9a-f]{64}$/).optional(),
});

export type EdgeEventReport = z.infer<typeof edgeEventReportSchema>;

export type EdgeStatusReport = z.infer<typeof edgeStatusReportSchema>;
export type SyncProgressReport = z.infer<typeof syncProgressSchema>;
export type EdgeUsageReport = z.infer<typeof edgeUsageSchema>;
export type SyncLagReport = z.infer<typeof syncLagSchema>;
