/**
 * ReadWrite mode: what local clients (and children) pushed goes up to the parent. The
 * queue is the edge's own change log, which is durable; `upstreamAfter` in the state
 * file moves past an entry only once the parent has accepted it, so a crash pushes an
 * entry again (pushes are idempotent) and never loses one.
 *
 * Conflicts: the feed is applied before the upstream push in every cycle, so when the
 * parent changed a tag that was also changed here, the parent's version is already the
 * local tag when the push runs. The local manifest is then pushed by digest only: the
 * parent's tag wins and the local image stays reachable by digest on both sides.
 *
 * Blobs go up in chunks that resume after a cut (chunked-upload.ts). An entry that fails
 * UPSTREAM_TRIES cycles in a row without moving any blob forward is parked
 * (parked-upstream.ts) and the entries behind it go on; it is tried again later.
 */
import type { ChangeEntry } from "../../../shared/store/change-store.js";
import type { RegistryContext } from "../../../shared/registry/context.js";
import type { ManifestRecord } from "../../../shared/store/interfaces.js";
import { readBody } from "../../../shared/http/body.js";
import { errorText, type Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { StateFile } from "../state.js";
import { PARENT_SOURCE } from "./applier.js";
import { RemoteError, RemoteUnreachableError, isTransientError, type RegistryHttpClient } from "../../../shared/remote/http-client.js";
import type { SyncLimits } from "./governed-stream.js";
import { windowClosedIn } from "./sync-window.js";
import { ChunkedUploader, DEFAULT_UPSTREAM_CHUNK_BYTES } from "./chunked-upload.js";
import { ParkedUpstreamEntries, UPSTREAM_TRIES, parkedName, type UpstreamEntry } from "./parked-upstream.js";

const PAGE = 100;

/** Network errors where the parent was never reached: the link is down, not this entry's fault. */
const LINK_DOWN = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

export class UpstreamPusher {
  readonly parked: ParkedUpstreamEntries;
  private readonly uploader: ChunkedUploader;
  /** Failed tries in a row per change-log seq, this run. */
  private readonly tries = new Map<number, number>();
  /** Set when a chunk of the entry being pushed was accepted: a try that moved is not a failed one. */
  private moved = false;

  constructor(
    private readonly registry: RegistryContext,
    private readonly client: RegistryHttpClient,
    private readonly state: StateFile,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    /** The bandwidth cap shared with downloads, and the sync window the push stops at. */
    private readonly limits: SyncLimits = {},
    /** Bytes per PATCH (--upstream-chunk-size). */
    chunkBytes = DEFAULT_UPSTREAM_CHUNK_BYTES,
  ) {
    this.parked = new ParkedUpstreamEntries(state);
    this.uploader = new ChunkedUploader(registry, client, { chunkBytes, limits, onAccepted: () => (this.moved = true) });
  }

  /** Pushes everything queued; returns how many changes went up. */
  async push(): Promise<number> {
    let pushed = await this.retryParked();
    for (;;) {
      const page = await this.registry.changes.read(this.state.state.upstreamAfter, PAGE);
      for (const entry of page.entries) {
        if (entry.source !== PARENT_SOURCE) {
          // Between entries: `upstreamAfter` stays before this one, which goes up at the next window.
          this.limits.window?.throwIfClosed();
          const blocker = this.parked.blocker(entry);
          if (blocker) {
            await this.parked.park(entry, `waits for the parked ${parkedName(blocker)}`);
          } else if (await this.tryEntry(entry)) {
            pushed++;
            this.metrics.upstreamPushed.inc();
          }
        }
        await this.state.update((s) => {
          s.upstreamAfter = entry.seq;
        });
      }
      if (page.settled > this.state.state.upstreamAfter) {
        await this.state.update((s) => {
          s.upstreamAfter = page.settled;
        });
      }
      if (!page.more) return pushed;
    }
  }

  /**
   * One try of a queued entry: true when it went up, false when it was parked. Rethrows what
   * fails the cycle (the engine backs off and the entry is tried again) until the entry has
   * failed UPSTREAM_TRIES times in a row without moving; then it is parked.
   */
  private async tryEntry(entry: UpstreamEntry): Promise<boolean> {
    this.moved = false;
    try {
      await this.pushEntry(entry);
      this.tries.delete(entry.seq);
      return true;
    } catch (error) {
      if (windowClosedIn(error) || (error instanceof RemoteError && error.status === 401)) throw error;
      if (error instanceof RemoteUnreachableError && error.code && LINK_DOWN.has(error.code)) throw error;
      const tries = this.moved ? 0 : (this.tries.get(entry.seq) ?? 0) + 1;
      if (tries < UPSTREAM_TRIES) {
        this.tries.set(entry.seq, tries);
        throw error;
      }
      this.tries.delete(entry.seq);
      await this.parked.park(entry, `${tries} tries failed: ${errorText(error)}`);
      this.log.error("an upstream change keeps failing; it is parked and the later ones go on", { repository: entry.repository, kind: entry.kind, reference: entry.tag ?? entry.digest, error: errorText(error) });
      return false;
    }
  }

  /** Parked entries whose wait is over, in change-log order; one still failing holds back the parked ones on its tag or digest. */
  private async retryParked(): Promise<number> {
    let pushed = 0;
    const stillParked: UpstreamEntry[] = [];
    for (const parked of this.parked.due()) {
      this.limits.window?.throwIfClosed();
      const entry: UpstreamEntry = { seq: parked.seq, repository: parked.repository, kind: parked.kind as UpstreamEntry["kind"], tag: parked.tag, digest: parked.digest } as UpstreamEntry;
      const waits = stillParked.some((other) => other.repository === entry.repository && ((entry.tag !== undefined && other.tag === entry.tag) || (entry.digest !== undefined && other.digest === entry.digest)));
      if (waits) continue;
      try {
        await this.pushEntry(entry);
        await this.parked.clear(parked.seq);
        this.log.info("a parked upstream change went up", { repository: entry.repository, kind: entry.kind, reference: entry.tag ?? entry.digest });
        pushed++;
        this.metrics.upstreamPushed.inc();
      } catch (error) {
        const closed = windowClosedIn(error);
        if (closed) throw closed;
        stillParked.push(entry);
        await this.parked.failedAgain(parked.seq, errorText(error));
      }
    }
    return pushed;
  }

  /**
   * Pushes a tag (or an untagged manifest) that was pushed here once and that the parent no
   * longer has (a restore, a rebuilt parent): found by a full resync (local-only.ts).
   */
  async pushAgain(repository: string, target: { tag: string } | { digest: string }): Promise<void> {
    if ("tag" in target) {
      const local = await this.registry.metadata.getTaggedManifest(repository, target.tag);
      if (local) await this.pushEntry({ repository, kind: "tag.set", tag: target.tag, digest: local.digest, seq: 0 });
    } else {
      await this.pushEntry({ repository, kind: "manifest.put", digest: target.digest, seq: 0 });
    }
  }

  private async pushEntry(entry: Pick<ChangeEntry, "repository" | "kind" | "tag" | "digest" | "seq">): Promise<void> {
    const { repository, tag, digest } = entry;
    try {
      switch (entry.kind) {
        case "tag.set": {
          if (!tag || !digest) return;
          const local = await this.registry.metadata.getTaggedManifest(repository, tag);
          if (local?.digest === digest) await this.pushManifest(repository, local, tag);
          else {
            // Moved since (by the parent's version winning, or by a later local push that has its own entry).
            const manifest = await this.registry.metadata.getManifest(repository, digest);
            if (manifest) await this.pushManifest(repository, manifest);
          }
          return;
        }
        case "manifest.put": {
          const manifest = digest ? await this.registry.metadata.getManifest(repository, digest) : undefined;
          if (manifest) await this.pushManifest(repository, manifest);
          return;
        }
        case "tag.delete":
        case "manifest.delete": {
          const reference = entry.kind === "tag.delete" ? tag : digest;
          if (!reference) return;
          const response = await this.client.request("DELETE", `/v2/${repository}/manifests/${reference}`);
          if (response.status !== 202 && response.status !== 404) throw await RemoteError.fromResponse(response, `DELETE /v2/${repository}/manifests/${reference}`);
          response.body.resume();
          return;
        }
      }
    } catch (error) {
      const closed = windowClosedIn(error);
      if (closed) throw closed;
      if (isTransientError(error) || (error instanceof RemoteError && error.status === 401)) throw error;
      // The parent refuses this change for good (no permission, invalid): holding the queue for it would block every later push.
      this.log.error("the parent refused a local change; it stays local", { repository, kind: entry.kind, reference: tag ?? digest, error: errorText(error) });
    }
  }

  /** Blobs first, then child manifests, then this manifest (by tag when given). */
  private async pushManifest(repository: string, manifest: ManifestRecord, tag?: string): Promise<void> {
    for (const child of manifest.manifestDigests) {
      const record = await this.registry.metadata.getManifest(repository, child);
      if (record) await this.pushManifest(repository, record);
    }
    for (const blob of manifest.blobDigests) await this.pushBlob(repository, blob);
    const content = manifest.content ?? (await readBody(await this.registry.blobs.read(manifest.digest), manifest.size));
    const reference = tag ?? manifest.digest;
    await this.limits.bandwidth?.take(content.byteLength);
    const response = await this.client.request("PUT", `/v2/${repository}/manifests/${reference}`, {
      headers: { "Content-Type": manifest.mediaType },
      body: content,
    });
    if (response.status !== 201) throw await RemoteError.fromResponse(response, `PUT /v2/${repository}/manifests/${reference}`);
    response.body.resume();
    this.log.info("pushed to the parent", { repository, reference, digest: manifest.digest });
  }

  private async pushBlob(repository: string, digest: string): Promise<void> {
    const head = await this.client.request("HEAD", `/v2/${repository}/blobs/${digest}`);
    head.body.resume();
    if (head.status === 200) return;
    const size = await this.registry.blobs.stat(digest);
    if (size === undefined) throw new Error(`blob ${digest} of ${repository} is missing locally`);
    await this.uploader.upload(repository, digest, size);
  }
}
