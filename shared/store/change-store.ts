/**
 * Storage for the registry's change log: an ordered list of entries numbered by a
 * sequence the store hands out atomically. The ordering guarantees are built on top of
 * it in shared/registry/change-log.ts; the store only needs atomic operations.
 */
import { randomBytes } from "node:crypto";

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
  /**
   * Random, written once with the entry. A restored or rebuilt log hands the same sequence
   * numbers out again, but never with the same stamp: readers anchor their cursor to it.
   * (Entries written before stamps existed have none; their createdAt stands in.)
   */
  stamp?: string;
}

/** Where the log stands: its last number, and the epoch (a new log, or a new start after a restore, has a new one). */
export interface LogHead {
  seq: number;
  epoch: string;
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
  /** The last number and the log's epoch, in one read; a log without an epoch yet gets one. */
  head(): Promise<LogHead>;
  /** Gives the log a new epoch (numbers go on): every cursor issued before is answered as expired. */
  startEpoch(): Promise<string>;
  /** Deletes up to `limit` entries created before `cutoff`; returns how many went. */
  deleteOlderThan(cutoff: Date, limit: number): Promise<number>;
}

/** A new epoch: random, so two logs (or two starts of one) never share one. */
export function newEpoch(): string {
  return randomBytes(9).toString("base64url");
}

/** A new entry stamp (see ChangeEntry.stamp). */
export function newStamp(): string {
  return randomBytes(6).toString("base64url");
}
