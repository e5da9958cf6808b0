/**
 * After a full walk of a repository, what the edge holds and the parent does not: tags
 * and manifests the parent deleted while the edge was not reading its feed, or lost (a
 * restore, a rebuilt parent). The edge converges on the parent: such content is removed,
 * except in ReadWrite mode when the edge's own change log says it came from a local push
 * (a client of this edge, or a child): that is pushed up again, since the parent lost it
 * or never got it, and the local version stays.
 */
import { MANIFEST_MEDIA_TYPES } from "../../../shared/domain/media-types.js";
import type { ChangeLog } from "../../../shared/registry/change-log.js";
import { RemoteError, type RegistryHttpClient } from "../../../shared/remote/http-client.js";
import type { MetadataStore } from "../../../shared/store/interfaces.js";
import type { Logger } from "../log.js";
import { PARENT_SOURCE, type Applier } from "./applier.js";
import type { UpstreamPusher } from "./upstream.js";
import { listAll } from "./list-all.js";

/** The metadata the reconciliation reads: the edge's store can also list a repository's manifests. */
export type ListingMetadataStore = MetadataStore & { listManifests(repository: string): Promise<string[]> };

export interface LocalOnlyOptions {
  applier: Applier;
  metadata: ListingMetadataStore;
  changes: ChangeLog;
  client: RegistryHttpClient;
  upstream: UpstreamPusher;
  log: Logger;
  mode: () => "ReadOnly" | "ReadWrite" | undefined;
}

const ORIGIN_PAGE = 1000;

export class LocalOnlyContent {
  constructor(private readonly options: LocalOnlyOptions) {}

  /** Removes (or, for local pushes in ReadWrite mode, pushes up) what the repository holds beyond `parentTags`. */
  async reconcile(repository: string, parentTags: ReadonlySet<string>, localTags: readonly string[]): Promise<void> {
    const { applier, metadata, upstream, log } = this.options;
    // Who last changed each tag and manifest: read from the local log only when something is
    // local-only, and afresh for each call, so a push made since is never taken for the parent's.
    let origins: Promise<Map<string, string | undefined>> | undefined;
    const isLocalPush = async (key: string): Promise<boolean> => {
      if (this.options.mode() !== "ReadWrite") return false;
      let known = await (origins ??= this.readOrigins());
      // A push made after the log was read is not in it: read again before taking it for the parent's.
      if (!known.has(key)) known = await (origins = this.readOrigins());
      return known.has(key) && known.get(key) !== PARENT_SOURCE;
    };
    for (const tag of localTags) {
      if (parentTags.has(tag)) continue;
      if (await isLocalPush(`${repository}\0tag\0${tag}`)) {
        log.info("a tag pushed here is missing at the parent: pushing it up again", { repository, tag });
        await upstream.pushAgain(repository, { tag });
      } else {
        await applier.deleteTag(repository, tag);
      }
    }
    // Manifests reachable from the tags are the parent's (or kept local pushes); the others are asked about.
    const reachable = new Set<string>();
    const visit = async (digest: string): Promise<void> => {
      if (reachable.has(digest)) return;
      reachable.add(digest);
      for (const child of (await metadata.getManifest(repository, digest))?.manifestDigests ?? []) await visit(child);
    };
    for (const tag of await listAll((page) => metadata.listTags(repository, page))) {
      const record = await metadata.getTaggedManifest(repository, tag);
      if (record) await visit(record.digest);
    }
    for (const digest of await metadata.listManifests(repository)) {
      if (reachable.has(digest) || (await this.parentHasManifest(repository, digest))) continue;
      if (await isLocalPush(`${repository}\0manifest\0${digest}`)) {
        await upstream.pushAgain(repository, { digest });
      } else {
        await applier.deleteManifest(repository, digest);
        log.info("removed a manifest the parent no longer has", { repository, digest });
      }
    }
  }

  private async parentHasManifest(repository: string, digest: string): Promise<boolean> {
    const what = `HEAD /v2/${repository}/manifests/${digest}`;
    const response = await this.options.client.request("HEAD", `/v2/${repository}/manifests/${digest}`, { headers: { Accept: MANIFEST_MEDIA_TYPES.join(", ") } });
    response.body.resume();
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw new RemoteError(response.status, `${what} answered ${response.status}`);
  }

  /** The source of the last entry for each tag and manifest (pending ones too: a push in flight is local). */
  private async readOrigins(): Promise<Map<string, string | undefined>> {
    const origins = new Map<string, string | undefined>();
    for (let after = 0; ; ) {
      const entries = await this.options.changes.storedAfter(after, ORIGIN_PAGE);
      for (const entry of entries) {
        if (entry.state === "void") continue;
        if (entry.tag) origins.set(`${entry.repository}\0tag\0${entry.tag}`, entry.source);
        if (entry.digest) origins.set(`${entry.repository}\0manifest\0${entry.digest}`, entry.source);
      }
      if (entries.length < ORIGIN_PAGE) return origins;
      after = entries[entries.length - 1]!.seq;
    }
  }
}

