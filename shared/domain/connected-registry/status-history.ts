/**
 * The last changes of a connected registry's status, as the cloud recorded them (docs/admin-api.md,
 * "Status history"): connection state, activation and the set of reported problem codes. Kept on
 * the record itself (a few KiB at most), so a change and its history entry are one write.
 *
 * Syncing counts as Online here: an edge in continuous mode goes Syncing and back on every
 * cycle, which would push every other change out of the list.
 */
import type { ActivationStatus, ConnectionState } from "./index.js";

export const STATUS_HISTORY_LENGTH = 50;

export interface StatusChange {
  timestamp: string;
  connectionState: ConnectionState;
  activation: ActivationStatus;
  /** The statusDetails codes at that moment, sorted; empty when none. */
  codes: string[];
}

interface StatusFields {
  connectionState: ConnectionState;
  activation: { status: ActivationStatus };
  statusDetails: Array<{ code: string }>;
  statusHistory?: StatusChange[];
}

/** `next` with an entry appended when its status differs from `previous`'s (the oldest entries dropped past the limit). */
export function withStatusHistory<T extends StatusFields>(previous: StatusFields, next: T, timestamp: string): T {
  const before = snapshot(previous, timestamp);
  const after = snapshot(next, timestamp);
  if (sameStatus(before, after)) return next;
  return { ...next, statusHistory: [...(previous.statusHistory ?? []), after].slice(-STATUS_HISTORY_LENGTH) };
}

function snapshot(record: StatusFields, timestamp: string): StatusChange {
  return {
    timestamp,
    connectionState: record.connectionState === "Syncing" ? "Online" : record.connectionState,
    activation: record.activation.status,
    codes: [...new Set(record.statusDetails.map((detail) => detail.code))].sort(),
  };
}

function sameStatus(a: StatusChange, b: StatusChange): boolean {
  return a.connectionState === b.connectionState && a.activation === b.activation && a.codes.join(",") === b.codes.join(",");
}
