/**
 * Storage for the registry's change log: an ordered list of entries numbered by a
 * sequence the store hands out atomically. The ordering guarantees are built on top of
 * it in shared/registry/change-log.ts; the store only needs atomic operations.
 */

export type ChangeKind = "manifest.put" | "manifest.delete" | "tag.set" | "tag.delete";

export interface ChangeFields {
  repository: string;
  kind: ChangeKind;
  digest?: string;
  tag?: string;
  mediaType?: string;
  /** The connected registry an upstream push came from. */
  source?: string;
}

export type ChangeState = "pending" | "committed" | "void";

export interface ChangeEntry extends ChangeFields {
  seq: number;
  state: ChangeState;
  createdAt: string;
}

/** The sequence number is already used: by a void the reader wrote, or by another writer. */
export class SequenceTakenError extends Error {}

export interface ChangeStore {
  /** The next sequence number, unique across every caller (an atomic increment). */
  nextSequence(): Promise<number>;
  /** Creates the entry; throws SequenceTakenError if its number is taken. */
  create(entry: ChangeEntry): Promise<void>;
  markCommitted(seq: number): Promise<void>;
  /** Entries with seq greater than `after`, in seq order, at most `limit`. */
  readAfter(after: number, limit: number): Promise<ChangeEntry[]>;
  /** The entries numbered first..last that exist, in seq order (point reads: for short spans). */
  readRange(first: number, last: number): Promise<ChangeEntry[]>;
  /** The last sequence number handed out (0 when none). */
  latestSequence(): Promise<number>;
  /** Deletes up to `limit` entries created before `cutoff`; returns how many went. */
  deleteOlderThan(cutoff: Date, limit: number): Promise<number>;
}
