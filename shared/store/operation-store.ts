/**
 * Long-running operations (imports): one document each, polled by clients and advanced by
 * the worker that holds its queue message. Replace is etag-checked so a slow worker whose
 * message came back to another one cannot overwrite newer progress unknowingly.
 */

export type OperationStatus = "Running" | "Succeeded" | "Failed";

export interface ImportProgress {
  bytesCopied: number;
  bytesTotal: number;
  blobsCopied: number;
  blobsSkipped: number;
  blobsTotal: number;
}

export interface ImportOperation {
  id: string;
  kind: "import";
  status: OperationStatus;
  source: string;
  targetTags: string[];
  untaggedTargetRepositories: string[];
  mode: "NoForce" | "Force";
  /** Copy the image's referrers too; absent (operations from before the option) means true. */
  includeReferrers?: boolean;
  /** The referrers found to copy, once the source is resolved. */
  referrers?: string[];
  /** The source's credentials, sealed with a key derived from the signing key; dropped when the operation ends. */
  sealedCredentials?: string;
  progress: ImportProgress;
  digest?: string;
  error?: { code: string; message: string };
  /** While it runs: why the last worker run stopped and left it to be tried again. */
  lastRetry?: { attempt: number; message: string; at: string };
  /** Worker runs that took this operation up (a crash or a lost link makes more than one). */
  attempts: number;
  createdAt: string;
  updatedAt: string;
  endedAt?: string;
  version?: string;
}

export interface OperationStore {
  create(operation: ImportOperation): Promise<ImportOperation>;
  get(id: string): Promise<ImportOperation | undefined>;
  /** Throws ConcurrentUpdateError when it changed since read. */
  replace(operation: ImportOperation): Promise<ImportOperation>;
  /** Running operations last updated before `before` (for the stale-operation sweep). */
  listStale(before: Date, limit: number): Promise<ImportOperation[]>;
}

/** The queue that carries operation ids to workers; a message comes back if its worker dies. */
export interface WorkQueue {
  send(operationId: string): Promise<void>;
  /** Up to `max` messages, each hidden from other workers for `hiddenMs`. */
  receive(max: number, hiddenMs: number): Promise<WorkMessage[]>;
  /** Keeps a message hidden while its work goes on; returns the message with its new receipt. */
  extend(message: WorkMessage, hiddenMs: number): Promise<WorkMessage>;
  delete(message: WorkMessage): Promise<void>;
}

export interface WorkMessage {
  operationId: string;
  messageId: string;
  popReceipt: string;
  dequeueCount: number;
}
