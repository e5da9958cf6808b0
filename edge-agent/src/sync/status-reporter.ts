/**
 * The edge's status report to its parent (docs/sync-protocol.md, section 6): Online or
 * Syncing, the running sync's progress, disk usage with the data volume's free space, lag,
 * the trigger of the current or last sync, and the edge's conditions (conditions.ts).
 *
 * Each condition carries a correlation id: one per condition while it lasts (derived from the
 * instance, the code and when it began), logged here when the condition is first reported and
 * when it clears, so the cloud's statusDetails entry and the edge's log line can be matched.
 */
import { createHash } from "node:crypto";
import type { EdgeStatusReport, EdgeUsageReport, SyncLagReport, SyncProgressReport, SyncTrigger } from "../../../shared/domain/connected-registry/index.js";
import type { RegistryHttpClient } from "../../../shared/remote/http-client.js";
import type { Condition } from "../conditions.js";
import type { Logger } from "../log.js";
import type { StateFile } from "../state.js";
import { MAX_EVENTS_PER_REPORT } from "../../../shared/domain/connected-registry/index.js";
import type { EdgeNotifications } from "../notifications.js";
import type { CurrentInventory, InventorySource } from "./inventory.js";

export interface StatusReporterOptions {
  client: RegistryHttpClient;
  /** /sync/v1/connectedRegistries/<name>/status */
  path: string;
  state: StateFile;
  log: Logger;
  usage: () => Promise<{ bytes: number; repositories: number; freeBytes?: number }>;
  /** Images that arrived or left and match this registry's notifications: sent with each report. */
  notifications?: EdgeNotifications;
  /** What this edge holds: its digest goes with each report, the whole when the parent asks (`inventoryWanted`). */
  inventory?: InventorySource;
}

export interface StatusFacts {
  syncing: boolean;
  progress?: SyncProgressReport;
  lag?: SyncLagReport;
  trigger?: SyncTrigger;
  lastError?: string;
  failures?: EdgeStatusReport["failures"];
}

export class StatusReporter {
  /** Correlation ids already reported, with their code: what to log as cleared when they go. */
  private reported = new Map<string, Condition["code"]>();
  /** Reports go one at a time, so an older one never lands after a newer one. */
  private sending: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: StatusReporterOptions) {}

  send(facts: StatusFacts): Promise<void> {
    const next = this.sending.catch(() => {}).then(() => this.sendNow(facts));
    this.sending = next;
    return next;
  }

  private async sendNow(facts: StatusFacts): Promise<void> {
    const { state, client, log } = this.options;
    const instanceId = state.state.instanceId;
    const details = (state.state.conditions ?? []).map((condition) => ({
      code: condition.code,
      description: condition.description.slice(0, 2000),
      since: condition.since,
      correlationId: correlationIdOf(instanceId, condition),
    }));
    const usage: EdgeUsageReport = await this.options.usage();
    const events = this.options.notifications?.pending(MAX_EVENTS_PER_REPORT) ?? [];
    const inventory = await this.options.inventory?.current();
    const answer = await client.json<{ eventsAccepted?: number; inventoryWanted?: boolean }>("POST", this.options.path, {
      instanceId,
      state: facts.syncing ? "Syncing" : "Online",
      ...(state.state.lastSyncTime ? { lastSyncTime: state.state.lastSyncTime } : {}),
      ...(facts.lastError ? { lastError: facts.lastError.slice(0, 2000) } : {}),
      ...(facts.failures && facts.failures.length > 0 ? { failures: facts.failures } : {}),
      usage,
      ...(facts.syncing && facts.progress ? { progress: facts.progress } : {}),
      ...(facts.lag ? { lag: facts.lag } : {}),
      ...(facts.trigger ? { trigger: facts.trigger } : {}),
      details,
      ...(events.length > 0 ? { events } : {}),
      ...(inventory ? { inventoryDigest: inventory.digest } : {}),
    } satisfies EdgeStatusReport);
    if (inventory && answer?.inventoryWanted === true) await this.sendInventory(instanceId, inventory);
    // Only a parent that says it queued them (not an offline parent edge answering for the cloud) takes them off the list.
    if (events.length > 0 && answer?.eventsAccepted === events.length) await this.options.notifications?.accepted(events.map((event) => event.id));
    const now = new Map(details.map((detail) => [detail.correlationId, detail.code] as const));
    for (const detail of details) {
      if (!this.reported.has(detail.correlationId)) {
        log.warn("condition reported to the parent", { code: detail.code, correlationId: detail.correlationId, description: detail.description });
      }
    }
    for (const [correlationId, code] of this.reported) {
      if (!now.has(correlationId)) log.info("condition cleared and reported to the parent", { code, correlationId });
    }
    this.reported = now;
  }

  /** A failed upload is logged, not thrown: the status went through, and the next report asks again. */
  private async sendInventory(instanceId: string, inventory: CurrentInventory): Promise<void> {
    const path = this.options.path.replace(/\/status$/, "/inventory");
    try {
      const answer = await this.options.client.json<{ tags?: number }>("POST", path, { instanceId, digest: inventory.digest, ...inventory.content });
      this.options.log.info("inventory sent to the parent", { digest: inventory.digest, tags: answer?.tags, truncated: inventory.content.truncated });
    } catch (error) {
      this.options.log.warn("could not send the inventory to the parent; the next status report retries", { error: error instanceof Error ? error.message : String(error) });
    }
  }
}

/** Stable while the condition lasts (same instance, code and start), new when it comes back later. */
export function correlationIdOf(instanceId: string, condition: Pick<Condition, "code" | "since">): string {
  return createHash("sha256").update(`${instanceId}\n${condition.code}\n${condition.since}`).digest("hex").slice(0, 16);
}
