/**
 * Which digests (blobs and manifests) the agent used lately, so the garbage collector never
 * deletes one that a running sync, upload or pull is about to rely on.
 *
 * Every store call that starts relying on existing content records the digest here
 * (guarded-stores.ts): a blob stat (the fetcher skipping a download, the applier linking),
 * a link read or refresh (HEAD, GET, a manifest PUT checking its blobs, a mount), a
 * manifest read (with everything that manifest names, so a pull that got the manifest has
 * its layers covered), and every write. The collector deletes a digest only if its last
 * use is older than the collection's start minus a grace period, and it decides that in
 * the same synchronous step in which it registers the digest as being swept; a use that
 * arrives after that waits for the deletion to finish and then reads afresh (finding the
 * content gone, so the push uploads again and the sync downloads again). One process owns
 * the data folder (data-folder-lock.ts), so memory is the right place for this.
 */
export class UseTracker {
  private readonly lastUse = new Map<string, number>();
  private readonly sweeping = new Map<string, Promise<void>>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Records a use; resolves once no deletion of the digest is in progress. */
  use(digest: string): Promise<void> | undefined {
    this.lastUse.set(digest, this.now());
    return this.sweeping.get(digest);
  }

  /** Records several uses at once (a manifest's references). */
  useAll(digests: Iterable<string>): Promise<void> | undefined {
    const waits: Array<Promise<void>> = [];
    for (const digest of digests) {
      const wait = this.use(digest);
      if (wait) waits.push(wait);
    }
    return waits.length > 0 ? Promise.all(waits).then(() => undefined) : undefined;
  }

  lastUsed(digest: string): number | undefined {
    return this.lastUse.get(digest);
  }

  /**
   * Runs `remove` unless the digest was used at or after `usedSince`. The check and the
   * registration as "being swept" happen without an await in between, so no use can slip
   * between them. Answers whether `remove` ran.
   */
  async sweep(digest: string, usedSince: number, remove: () => Promise<void>): Promise<boolean> {
    // Another sweep of the same digest (never expected: one collection at a time) waits its turn.
    while (this.sweeping.has(digest)) await this.sweeping.get(digest);
    const last = this.lastUse.get(digest);
    if (last !== undefined && last >= usedSince) return false;
    const done = remove();
    const settled = done.then(
      () => undefined,
      () => undefined,
    );
    this.sweeping.set(digest, settled);
    try {
      await done;
      return true;
    } finally {
      this.sweeping.delete(digest);
    }
  }

  /** Forgets uses older than `before` (the map would otherwise hold every digest ever used). */
  prune(before: number): void {
    for (const [digest, at] of this.lastUse) if (at < before) this.lastUse.delete(digest);
  }
}
