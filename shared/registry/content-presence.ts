/**
 * Whether a blob's bytes are really in the blob store, not only linked in the metadata.
 *
 * A link whose content is gone (the bytes lost by a storage restore, or by an emulator
 * crash before the local stack was made durable) must never be answered as present: a
 * HEAD that says 200 makes clients skip the upload that would heal it, a mount spreads it,
 * and a pull fails at the storage URL. So HEAD, GET, mounts and manifest pushes ask here.
 *
 * Content is addressed by its digest and never changes, and it goes away only through
 * the garbage collector (which removes the links first), so a sighting is remembered for a
 * while: a store round trip per digest per instance, not per request. Absence is never
 * remembered: a re-push makes it present again at once.
 */
import type { BlobStore } from "../store/interfaces.js";

export interface ContentPresenceOptions {
  /** How long a sighting is trusted. */
  rememberMs?: number;
  /** At most this many digests are remembered (oldest forgotten first). */
  maxEntries?: number;
  now?: () => number;
}

export class ContentPresence {
  private readonly seenAt = new Map<string, number>();
  private readonly rememberMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly blobs: Pick<BlobStore, "stat">,
    options: ContentPresenceOptions = {},
  ) {
    this.rememberMs = options.rememberMs ?? 10 * 60 * 1000;
    this.maxEntries = options.maxEntries ?? 50_000;
    this.now = options.now ?? Date.now;
  }

  async has(digest: string): Promise<boolean> {
    const seen = this.seenAt.get(digest);
    if (seen !== undefined && this.now() - seen < this.rememberMs) return true;
    const present = (await this.blobs.stat(digest)) !== undefined;
    this.seenAt.delete(digest);
    if (present) {
      this.seenAt.set(digest, this.now());
      if (this.seenAt.size > this.maxEntries) this.seenAt.delete(this.seenAt.keys().next().value!);
    }
    return present;
  }

  /** The content was just deleted (the edge's garbage collector): the next question looks again. */
  forget(digest: string): void {
    this.seenAt.delete(digest);
  }

  /** The content was just written (a push): no need to look. */
  saw(digest: string): void {
    this.seenAt.delete(digest);
    this.seenAt.set(digest, this.now());
    if (this.seenAt.size > this.maxEntries) this.seenAt.delete(this.seenAt.keys().next().value!);
  }
}
