/**
 * The edge's upkeep settings on a connected registry (issue 13): garbage collection (whether
 * it runs and on which 5-field UTC cron schedule) and the sync bandwidth cap (text that
 * parseBandwidth reads; null for no cap). Records made before these settings existed have
 * neither: `garbageCollectionOf` and `syncBandwidthOf` give the defaults.
 */
import { parseBandwidth } from "../quantities.js";
import { scheduleProblem } from "./sync-settings.js";

export interface GarbageCollectionSettings {
  enabled: boolean;
  schedule: string;
}

/** As ACR's connected registries: on, daily at 03:00 UTC. */
export const DEFAULT_GARBAGE_COLLECTION: Readonly<GarbageCollectionSettings> = { enabled: true, schedule: "0 3 * * *" };

export type MaintenanceCheck<T> = { ok: true; value: T } | { ok: false; message: string };

/** The current settings with a change applied, checked; the message names the field and its value. */
export function changeGarbageCollection(current: GarbageCollectionSettings | undefined, change: { enabled?: boolean; schedule?: string }): MaintenanceCheck<GarbageCollectionSettings> {
  const base = garbageCollectionOf(current);
  const next = { enabled: change.enabled ?? base.enabled, schedule: change.schedule ?? base.schedule };
  const problem = scheduleProblem(next.schedule);
  if (problem) return { ok: false, message: `invalid garbageCollection.schedule: ${problem}` };
  return { ok: true, value: next };
}

/** A bandwidth cap as written (kept as text, so `show` prints what the operator typed), or null for none. */
export function checkSyncBandwidth(text: string | null): MaintenanceCheck<string | null> {
  if (text === null) return { ok: true, value: null };
  const parsed = parseBandwidth(text);
  if (!parsed.ok) return { ok: false, message: `invalid syncBandwidth: ${parsed.problem}; or null for no cap` };
  return { ok: true, value: text.trim() };
}

export function garbageCollectionOf(stored: GarbageCollectionSettings | undefined): GarbageCollectionSettings {
  return stored ? { enabled: stored.enabled, schedule: stored.schedule } : { ...DEFAULT_GARBAGE_COLLECTION };
}

export function syncBandwidthOf(stored: string | null | undefined): string | null {
  return stored ?? null;
}
