/**
 * The last garbage collection, where an operator looks: the agent's state (GET /status,
 * `connected-registry status`) and /metrics.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { formatBytes } from "../../../shared/domain/quantities.js";
import type { CollectionCounts, CollectionResult } from "./collector.js";

/** What state.json keeps of the last real collection (the list of items stays out). */
export interface GcSummary {
  at: string;
  durationMs: number;
  freedBytes: number;
  removed: CollectionCounts;
  spared: number;
}

export function summaryOf(result: CollectionResult): GcSummary {
  return { at: result.startedAt, durationMs: result.durationMs, freedBytes: result.freedBytes, removed: result.removed, spared: result.spared };
}

export class GcMetrics {
  private readonly runs: Counter;
  private readonly freed: Counter;
  private readonly removedTotal: Counter<"kind">;
  private readonly lastRun: Gauge;
  private readonly lastDuration: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.runs = new Counter({ name: "connected_registry_gc_runs_total", help: "Garbage collections completed", registers });
    this.freed = new Counter({ name: "connected_registry_gc_freed_bytes_total", help: "Bytes freed by garbage collection", registers });
    this.removedTotal = new Counter({ name: "connected_registry_gc_removed_total", help: "Objects removed by garbage collection, by kind", labelNames: ["kind"], registers });
    this.lastRun = new Gauge({ name: "connected_registry_gc_last_run_timestamp_seconds", help: "When the last garbage collection started", registers });
    this.lastDuration = new Gauge({ name: "connected_registry_gc_last_duration_seconds", help: "How long the last garbage collection took", registers });
  }

  record(result: CollectionResult): void {
    this.runs.inc();
    this.freed.inc(result.freedBytes);
    for (const [kind, count] of Object.entries(result.removed)) if (count > 0) this.removedTotal.inc({ kind }, count);
    this.lastRun.set(Date.parse(result.startedAt) / 1000);
    this.lastDuration.set(result.durationMs / 1000);
  }
}

export function formatGcSummary(summary: GcSummary | undefined): string {
  if (!summary) return "never";
  const r = summary.removed;
  return `${summary.at}, freed ${formatBytes(summary.freedBytes)} (${r.blobs} blobs, ${r.manifests} manifests, ${r.uploads} uploads, ${r.partials} partial downloads, ${r.changes} change-log entries) in ${(summary.durationMs / 1000).toFixed(1)} s`;
}

