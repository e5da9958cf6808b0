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
 */
import type { ChangeEntry } from "../../../shared/store/change-store.js";
import type { RegistryContext } from "../../../shared/registry/context.js";
import type { ManifestRecord } from "../../../shared/store/interfaces.js";
import { readBody } from "../../../shared/http/body.js";
import { errorText, type Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { StateFile } from "../state.js";
import { PARENT_SOURCE } from "./applier.js";
import { RemoteError, isTransientError, type RegistryHttpClient } from "../../../shared/remote/http-client.js";
import { governed, type SyncLimits } from "./governed-stream.js";
import { windowClosedIn } from "./sync-window.js";

const PAGE = 100;

export class UpstreamPusher {
  constructor(
    private readonly registry: RegistryContext,
    private readonly client: RegistryHttpClient,
    private readonly state: StateFile,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    /** The bandwidth cap shared with downloads, and the sync window the push stops at. */
    private readonly limits: SyncLimits = {},
  ) {}

  /** Pushes everything queued; returns how many changes went up. */
  async push(): Promise<number> {
    let pushed = 0;
    for (;;) {
      const page = await this.registry.changes.read(this.state.state.upstreamAfter, PAGE);
      for (const entry of page.entries) {
        if (entry.source !== PARENT_SOURCE) {
          // Between entries: `upstreamAfter` stays before this one, which goes up at the next window.
          this.limits.window?.throwIfClosed();
          await this.pushEntry(entry);
          pushed++;
          this.metrics.upstreamPushed.inc();
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
    const response = await this.client.request("POST", `/v2/${repository}/blobs/uploads/?digest=${digest}`, {
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) },
      // Read from disk only as fast as the cap lets it go; cut when the window closes.
      body: governed(await this.registry.blobs.read(digest), this.limits),
    });
    if (response.status !== 201) throw await RemoteError.fromResponse(response, `POST /v2/${repository}/blobs/uploads/`);
    response.body.resume();
  }
}
