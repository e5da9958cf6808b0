/** What every registry resource handler works with. */
import type { Authorizer } from "../auth/authorizer.js";
import type { BlobStore, MetadataStore } from "../store/interfaces.js";
import type { ChangeLog } from "./change-log.js";
import type { ContentPresence } from "./content-presence.js";
import type { RunningHashes } from "./running-hashes.js";
import type { EventSink } from "../events/outbox.js";

export interface RegistryOptions {
  /**
   * "redirect": blob GETs answer 307 to a short-lived storage URL, so bytes never pass
   * through the function. "stream": the registry serves the bytes itself.
   */
  blobDelivery: "redirect" | "stream";
  /**
   * A blob link a push relies on is written again when older than this, so the garbage
   * collector can tell blobs in use (blob-gc.ts: it spares links used within this window).
   */
  linkRefreshMs?: number;
}

export const DEFAULT_LINK_REFRESH_MS = 15 * 60 * 1000;

export interface RegistryContext {
  metadata: MetadataStore;
  blobs: BlobStore;
  authorizer: Authorizer;
  options: RegistryOptions;
  runningHashes: RunningHashes;
  /** Whether linked content is really stored: a link alone is not proof (content-presence.ts). */
  contentPresence: ContentPresence;
  /** Every manifest and tag change is recorded here, for connected registries to follow. */
  changes: ChangeLog;
  /**
   * The connected registry whose sync token this is, if any: an edge's upstream pushes are
   * recorded with it as their source, so that edge can tell its own changes in the feed.
   */
  originOf?: (tokenName: string) => Promise<string | undefined>;
  /**
   * Why a manifest is not here, when there is a reason beyond "never pushed" (an edge's
   * filters: docs/edge-agent.md "Filters"); the MANIFEST_UNKNOWN message says it.
   */
  explainMissingManifest?: (name: string, reference: string) => Promise<string | undefined>;
  /** Where pushes and deletes are reported for webhooks (shared/events/): queued durably, sent later. */
  events?: EventSink;
  /**
   * Runs a manifest write (the check of what it names, then its records) with those digests
   * kept from a garbage collector running meanwhile: the edge's (edge-agent/src/gc/use-tracker.ts).
   * The cloud's collector needs none: it spares what was linked or used within its grace period.
   */
  holdReferences?: <T>(digests: readonly string[], work: () => Promise<T>) => Promise<T>;
}
