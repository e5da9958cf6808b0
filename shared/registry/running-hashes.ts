/**
 * The sha256 of each upload in progress, kept while its chunks stream through this
 * process, so finishing an upload need not read the bytes back. Only an optimisation:
 * when the state is missing (another instance took a chunk, a restart, eviction) the
 * upload is hashed from storage instead.
 */
import type { Hash } from "node:crypto";

interface Entry {
  offset: number;
  hash: Hash;
}

export class RunningHashes {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly capacity = 1000) {}

  /** Takes the hash out, so two concurrent chunks of one upload never feed the same state. */
  take(uploadId: string, offset: number): Hash | undefined {
    const entry = this.entries.get(uploadId);
    this.entries.delete(uploadId);
    return entry && entry.offset === offset ? entry.hash : undefined;
  }

  put(uploadId: string, offset: number, hash: Hash): void {
    this.entries.delete(uploadId);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(uploadId, { offset, hash });
  }

  forget(uploadId: string): void {
    this.entries.delete(uploadId);
  }
}
