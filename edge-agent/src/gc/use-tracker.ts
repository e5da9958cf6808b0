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
 *
 * A single use is an instant, and that is not enough for a write that relies on what it
 * checked a moment before: a manifest PUT checks its blobs, then writes the manifest and
 * the tag. A collection that starts in between plans from files that do not show the new
 * manifest yet, and the uses are older than its start, so it would delete the blobs under
 * the write and leave a tag that does not pull. `hold` covers that whole span: what is held
 * is never swept, and on release it counts as used then (a collection that started before
 * may have missed the writes; one that starts after sees them).
 */
export class UseTracker {
  private readonly lastUse = new Map<string, number>();
  private readonly sweeping = new Map<string, Promise<void>>();
  /** Digests a running write relies on (`hold`), with how many writes hold each. */
  private readonly held = new Map<string, number>();

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

  /**
   * Runs `work` (a check of the digests followed by writes that rely on them) with the
   * digests held: registered before anything is awaited, so a sweep deciding from now on
   * spares them, and a sweep already under way finishes first (then `work`'s check finds
   * the content gone and refuses).
   */
  async hold<T>(digests: readonly string[], work: () => Promise<T>): Promise<T> {
    const unique = [...new Set(digests)];
    for (const digest of unique) this.held.set(digest, (this.held.get(digest) ?? 0) + 1);
    try {
      await this.useAll(unique);
      return await work();
    } finally {
      for (const digest of unique) {
        const count = this.held.get(digest)! - 1;
        if (count === 0) this.held.delete(digest);
        else this.held.set(digest, count);
        this.lastUse.set(digest, this.now());
      }
    }
  }

  lastUsed(digest: string): number | undefined {
    return this.lastUse.get(digest);
  }

  /**
   * Runs `remove` unless the digest is held or was used at or after `usedSince`. The check and the
   * registration as "being swept" happen without an await in between, so no use can slip
   * between them. Answers whether `remove` ran.
   */
  async sweep(digest: string, usedSince: number, remove: () => Promise<void>): Promise<boolean> {
    // Another sweep of the same digest (never expected: one collection at a time) waits its turn.
    while (this.sweeping.has(digest)) await this.sweeping.get(digest);
    const last = this.lastUse.get(digest);
    if (this.held.has(digest) || (last !== undefined && last >= usedSince)) return false;
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
