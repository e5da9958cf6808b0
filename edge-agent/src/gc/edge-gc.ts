/**
 * Garbage collection put together for a running agent: the collector over the agent's own
 * stores, its schedule from the parent's configuration, the hourly leftovers sweep, and
 * the report in state and metrics. agent.ts creates it with a few lines.
 */
import { join } from "node:path";
import { CHANGE_RETENTION_SECONDS } from "../../../shared/domain/retention.js";
import type { ContentPresence } from "../../../shared/registry/content-presence.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { StateFile } from "../state.js";
import type { FsBlobStore } from "../store/fs-blob-store.js";
import type { FsChangeStore } from "../store/fs-change-store.js";
import type { FsMetadataStore } from "../store/fs-metadata-store.js";
import { GarbageCollector } from "./collector.js";
import { GcMetrics, summaryOf } from "./report.js";
import { effectiveGcSetting, GcScheduler } from "./schedule.js";
import type { UseTracker } from "./use-tracker.js";

export interface EdgeGcParts {
  dataDir: string;
  blobs: FsBlobStore;
  metadata: FsMetadataStore;
  changeStore: FsChangeStore;
  tracker: UseTracker;
  contentPresence: ContentPresence;
  state: StateFile;
  metrics: Metrics;
  log: Logger;
}

export interface EdgeGc {
  collector: GarbageCollector;
  scheduler: GcScheduler;
}

export function createEdgeGc(parts: EdgeGcParts): EdgeGc {
  const { state, log } = parts;
  const gcMetrics = new GcMetrics(parts.metrics.registry);
  const collector = new GarbageCollector({
    blobRoot: parts.dataDir,
    metadataRoot: join(parts.dataDir, "metadata"),
    blobs: parts.blobs,
    metadata: parts.metadata,
    tracker: parts.tracker,
    contentPresence: parts.contentPresence,
    changes: {
      store: parts.changeStore,
      retentionMs: CHANGE_RETENTION_SECONDS * 1000,
      readWrite: () => state.state.configuration?.mode === "ReadWrite",
      upstreamAfter: () => state.state.upstreamAfter,
    },
    log: (message, fields) => log.info(message, fields),
    onCollected: (result, kind) => {
      if (kind === "full") {
        gcMetrics.record(result);
        void state.update((s) => {
          s.garbageCollection = summaryOf(result);
        });
      }
      log.info(kind === "full" ? "garbage collection done" : "removed abandoned leftovers", { ...result.removed, freedBytes: result.freedBytes, durationMs: result.durationMs, spared: result.spared });
    },
  });
  const scheduler = new GcScheduler(
    () => effectiveGcSetting(state.state.configuration),
    () => collector.collect(),
    (message, fields) => log.warn(message, fields),
  );
  return { collector, scheduler };
}
