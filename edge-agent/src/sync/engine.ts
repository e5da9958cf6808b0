/**
 * The sync loop (docs/sync-protocol.md, docs/edge-agent.md): activate, then on the
 * schedule (continuous, or cron inside the sync window) bring the local registry up to
 * the parent: a full sync when there is no cursor, the change feed after it, the
 * upstream push in ReadWrite mode, and a heartbeat. It never stops serving: when the
 * parent is unreachable it retries with backoff; when the parent says the connected
 * registry is deactivated it stops syncing and says so.
 */
import type { EdgeNotifications } from "../notifications.js";
import type { MetadataStore } from "../../../shared/store/interfaces.js";
import type { EdgeConfiguration } from "../../../shared/sync/configuration.js";
import { withCondition, withoutCondition } from "../conditions.js";
import { errorText, type Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { StateFile } from "../state.js";
import type { Applier } from "./applier.js";
import { FailedItems, isObjectFailure, itemName, type ItemKey } from "./failed-items.js";
import type { LocalOnlyContent } from "./local-only.js";
import { RemoteError, RemoteUnreachableError, isTransientError, type RegistryHttpClient } from "../../../shared/remote/http-client.js";
import { listAll } from "./list-all.js";
import { runLimited } from "./run-limited.js";
import { sendActivation, type ActivateAnswer } from "./activation.js";
import type { UpstreamPusher } from "./upstream.js";
import { parkedName } from "./parked-upstream.js";
import { SyncWindow, windowClosedIn } from "./sync-window.js";
import { WalkPosition } from "./walk-position.js";
import { StorageFullError } from "../store/disk-guard.js";
import { isDiskError } from "../store/disk-errors.js";
import { removeRepositoryFromScope } from "./scope-removal.js";
import { countsTagChanges, InventorySource } from "./inventory.js";
import { adviceFor, SLOW_AFTER_MS, SLOW_RETRY_MS } from "./failure-advice.js";
import type { ChangeLog } from "../../../shared/registry/change-log.js";
import type { RunProgress } from "./run-progress.js";
import { StatusReporter } from "./status-reporter.js";
import { ReferrerSync } from "./referrers.js";
import { EdgeFilters } from "./filters.js";

const FEED_PAGE = 500;
/**
 * Images applied at once; their blobs share the fetcher's download slots (6 by default), in
 * the order asked, so the first images still finish first. Several times as many images as slots:
 * the download queue holds the next images' blobs before the slots run dry, and an image's last
 * steps (its links, manifest, tag, referrers) overlap other images' downloads. With as many
 * images as slots, the next image was only started once one had written its manifest: its
 * manifest and blobs came after a gap, and a sync of 10 images ended with two images' blobs
 * on 8 slots (first sync of 10 images: 12% faster than 8 at once, which was 6% faster than 4).
 */
const IMAGE_CONCURRENCY = 32;
const HEARTBEAT_MS = 30_000;
/** While a sync runs, a timer reports progress this often, however long one download takes (the cloud marks 5 silent minutes Offline). */
const SYNCING_HEARTBEAT_MS = 20_000;
const MAX_BACKOFF_MS = 60_000;
/** Out of room: how often to look for room again, and how long before a cycle is tried anyway (the content may have changed). */
const ROOM_RECHECK_MS = 5_000;
const STORAGE_FULL_RETRY_MS = 10 * 60_000;
/** Skipped objects named in one heartbeat (the parent's status schema takes up to 50). */
const MAX_REPORTED_FAILURES = 20;

interface FeedChange {
  seq: number;
  repository: string;
  kind: "manifest.put" | "manifest.delete" | "tag.set" | "tag.delete";
  tag?: string;
  digest?: string;
  state: "committed" | "unconfirmed";
  source?: string;
}

interface FeedAnswer {
  changes: Array<FeedChange & { createdAt?: string }>;
  cursor: string;
  more: boolean;
  configurationVersion: string;
  /** Absent from parents older than it. */
  head?: { seq: number; behind: number };
}

export interface SyncEngineOptions {
  name: string;
  client: RegistryHttpClient;
  applier: Applier;
  upstream: UpstreamPusher;
  /** What a full walk finds here and not at the parent: removed, or pushed up again (ReadWrite). */
  localOnly: LocalOnlyContent;
  metadata: MetadataStore;
  state: StateFile;
  log: Logger;
  metrics: Metrics;
  intervalMs: number;
  /** Called with every configuration the parent sends (identity, mode, log level follow it). */
  onConfiguration: (configuration: EdgeConfiguration, receivedAt: string) => void;
  /** Where clients and children reach this agent, when the operator said (children's get-settings uses it). */
  loginServer?: { host: string; tls: boolean };
  /** How the connection string says to reach the parent: what a TLS failure means depends on it. */
  parentProtocol?: "http" | "https";
  /** The sync window, held during a sync too; it carries the clock (tests move it). Default: the configuration's, on the real clock. */
  window?: SyncWindow;
  /** Disk usage for the heartbeat (freeBytes: the data volume's). */
  usage: () => Promise<{ bytes: number; repositories: number; freeBytes?: number }>;
  /** Objects and bytes of the running sync; the fetcher adds the bytes. */
  runProgress: RunProgress;
  /** This edge's own change log: what was pushed here and not yet up (scope-removal.ts). */
  localChanges: ChangeLog;
  /** The disk limits (store/disk-guard.ts): a cycle out of room ends with DISK_STORAGE_FULL and waits for room. */
  disk?: { hasRoom(bytes: number): Promise<boolean>; cycleCompleted(): Promise<void> };
  /** Notifications waiting for the parent: the status report carries them (docs/events.md). */
  notifications?: EdgeNotifications;
  /** The connected registry's tag and platform filters (filters.ts); default: none. */
  filters?: EdgeFilters;
  /** A handshake the agent sent while it started (activation.ts): the first activation takes its answer instead of asking again. */
  activationSent?: Promise<ActivateAnswer>;
}

export class SyncEngine {
  private stopped = false;
  private activated = false;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private lastHeartbeat = 0;
  private reported: string | undefined;
  private readonly base: string;
  private readonly failed: FailedItems;
  private readonly window: SyncWindow;
  private readonly walked: WalkPosition;
  private readonly reporter: StatusReporter;
  /** What this edge holds, for the parent's "where is it"; absent on stores that do not count tag changes. */
  private readonly inventory: InventorySource | undefined;
  private readonly referrers: ReferrerSync;
  private readonly filters: EdgeFilters;
  private activationSent: Promise<ActivateAnswer> | undefined;
  /** From the last feed page: log entries not applied yet, and when the oldest known one was made. */
  private lag: { changes: number; oldestCreatedAt?: string } | undefined;

  constructor(private readonly options: SyncEngineOptions) {
    this.base = `/sync/v1/connectedRegistries/${options.name}`;
    this.failed = new FailedItems(options.state);
    this.window = options.window ?? new SyncWindow(() => new Date(), () => options.state.state.configuration);
    this.walked = new WalkPosition(options.state);
    this.inventory = countsTagChanges(options.metadata) ? new InventorySource(options.metadata) : undefined;
    this.reporter = new StatusReporter({ client: options.client, path: `${this.base}/status`, state: options.state, log: options.log, usage: options.usage, ...(options.notifications ? { notifications: options.notifications } : {}), ...(this.inventory ? { inventory: this.inventory } : {}) });
    this.referrers = new ReferrerSync({ ...options, isolate: (item, apply) => this.applyIsolated(item, apply) });
    this.filters = options.filters ?? new EdgeFilters(() => options.state.state.configuration);
    this.activationSent = options.activationSent;
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.window.shutDown();
    this.wake?.();
    await this.running;
  }

  private async loop(): Promise<void> {
    const { log, state } = this.options;
    let backoffMs = 1000;
    /** Since when cycles fail, and the last advice given (its repeats are logged at warn). */
    let failing: { since: number; failures: number; advice?: string; adviceSince?: number } | undefined;
    while (!this.stopped) {
      const waitMs = this.window.msUntilOpen();
      if (waitMs > 0 && this.activated) {
        const nextSync = this.window.nextOpening().toISOString();
        log.info("outside the sync window: not contacting the parent", { nextSync });
        await state.update((s) => {
          s.nextSyncWindow = nextSync;
        });
        await this.sleep(Math.max(waitMs, 1000));
        continue;
      }
      if (state.state.nextSyncWindow) {
        await state.update((s) => {
          delete s.nextSyncWindow;
        });
      }
      let delayMs = this.options.intervalMs;
      try {
        await this.cycle();
        backoffMs = 1000;
        if (failing) {
          log.info("sync resumed", { failedCycles: failing.failures, failingForSeconds: Math.round((Date.now() - failing.since) / 1000) });
          failing = undefined;
        }
      } catch (error) {
        const windowClosed = windowClosedIn(error);
        if (windowClosed) {
          // Stopped between images (or mid-blob, its partial file kept): the next window resumes from here.
          if (!this.stopped) log.info("the sync window closed: sync stopped, resuming at the next window", { nextSync: windowClosed.nextWindowAt.toISOString(), progress: state.state.progress.current });
          await state.update((s) => {
            s.progress = { phase: "idle", itemsDone: 0, itemsTotal: 0, bytesFetched: s.progress.bytesFetched };
          });
          // One last report, so the parent shows the edge idle, not a sync that has stopped.
          if (!this.stopped) await this.heartbeat(false).catch(() => {});
          continue;
        }
        if (error instanceof RemoteError && error.code === "NOT_ACTIVE") {
          await state.update((s) => {
            s.activation = { status: "Deactivated", message: error.message };
            s.progress = { phase: "idle", itemsDone: 0, itemsTotal: 0, bytesFetched: 0 };
          });
          log.error("the parent says this connected registry is not active (deactivated, or activated by another agent): syncing stops (local pulls go on); restart the agent to activate it again (an agent activates when it starts)", {
            detail: error.message,
          });
          return;
        }
        if (error instanceof RemoteError && error.code === "CURSOR_EXPIRED") {
          // Too old (the message TTL), or the parent's log is not the history the cursor read (a restore): copy it all again.
          log.warn("the parent cannot continue the feed from this cursor: doing a full resync", { reason: (error.detail as { reason?: unknown } | undefined)?.reason, detail: error.message });
          await state.update((s) => {
            delete s.cursor;
            delete s.fullSyncFrom;
            s.syncTrigger = "cursorExpired";
          });
          this.activated = false;
          continue;
        }
        if (error instanceof StorageFullError) {
          await this.waitForRoom(error);
          continue;
        }
        const kind = isDiskError(error) ? "disk" : error instanceof RemoteUnreachableError ? "unreachable" : isTransientError(error) ? "transient" : "refused";
        const advice = adviceFor(error, this.options.name, this.options.parentProtocol ?? "https");
        const repeated = advice !== undefined && failing?.advice === advice.kind;
        const adviceSince = repeated ? (failing?.adviceSince ?? Date.now()) : Date.now();
        failing = { since: failing?.since ?? Date.now(), failures: (failing?.failures ?? 0) + 1, ...(advice ? { advice: advice.kind, adviceSince } : {}) };
        this.options.metrics.syncErrors.inc({ kind });
        // A disk that stopped taking writes (full, read-only, gone) fails this too: log it and go on
        // retrying, so the agent keeps serving what it can read and reports itself not ready (/readyz).
        await state
          .update((s) => {
            s.lastError = advice ? `${errorText(error)}: ${advice.advice}` : errorText(error);
            s.progress.phase = "idle";
            // The codes the cloud shows (conditions.ts); a successful cycle clears them. A refused
            // write is the disk guard's DISK_ERROR already, not a sync failure of its own.
            const others = withoutCondition(withoutCondition(s.conditions, "PARENT_UNREACHABLE"), "SYNC_FAILED");
            s.conditions = kind === "disk" ? others : withCondition(others, kind === "unreachable" ? "PARENT_UNREACHABLE" : "SYNC_FAILED", errorText(error));
          })
          .catch((writeError: unknown) => log.error("cannot record the sync error in the data folder", { error: errorText(writeError) }));
        // Only a person can fix what advice marks slow: after a grace (a parent edge learns a new
        // password at its own next sync) retry rarely; say it at error level once.
        delayMs = advice?.slow && Date.now() - adviceSince >= SLOW_AFTER_MS ? SLOW_RETRY_MS : backoffMs;
        (kind === "refused" && !repeated ? log.error : log.warn)(advice ? `sync failed: ${advice.advice}` : "sync failed; retrying", {
          kind,
          error: errorText(error),
          retryInSeconds: delayMs / 1000,
        });
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
        await this.heartbeat(true).catch(() => {});
      }
      await this.sleep(delayMs);
    }
  }

  /** One pass, with progress reports on a timer while it runs. */
  async cycle(): Promise<void> {
    this.options.runProgress.begin();
    const timer = setInterval(() => {
      if (this.options.state.state.progress.phase === "idle") return;
      this.heartbeat(false, true).catch((error: unknown) => this.options.log.debug("progress report failed", { error: errorText(error) }));
    }, SYNCING_HEARTBEAT_MS);
    try {
      await this.cycleSteps();
    } finally {
      clearInterval(timer);
    }
  }

  /** Activation if needed, full sync or feed, resync, upstream, heartbeat. */
  private async cycleSteps(): Promise<void> {
    if (!this.activated) {
      // The handshake happens at start whatever the schedule; syncing waits for the window.
      await this.activate();
      if (this.window.msUntilOpen() > 0) return;
    }
    if (!this.options.state.state.cursor) await this.fullSync();
    await this.resyncIfRequested();
    await this.walkAddedRepositories();
    await this.readFeed();
    await this.walkAddedRepositories();
    await this.retryFailed();
    if (this.options.state.state.configuration?.mode === "ReadWrite") {
      this.window.throwIfClosed();
      await this.setPhase("upstream");
      const pushed = await this.options.upstream.push();
      if (pushed > 0) this.options.log.info("pushed local changes to the parent", { changes: pushed });
    }
    await this.options.state.update((s) => {
      s.lastSyncTime = new Date().toISOString();
      delete s.lastError;
      s.conditions = withoutCondition(withoutCondition(s.conditions, "PARENT_UNREACHABLE"), "SYNC_FAILED");
      s.progress = { phase: "idle", itemsDone: 0, itemsTotal: 0, bytesFetched: s.progress.bytesFetched };
    });
    this.options.metrics.markSynced(Date.now());
    await this.options.disk?.cycleCompleted();
    await this.heartbeat(false);
  }

  /**
   * Out of room: the cycle stopped before the image that did not fit (its blobs → manifests →
   * tag order leaves nothing half-visible, and it is not recorded as failed), pulls go on, and
   * syncing resumes by itself once there is room for it (a collection, a bigger budget).
   */
  private async waitForRoom(error: StorageFullError): Promise<void> {
    const { log, state } = this.options;
    log.warn("not enough storage for new content: syncing pauses until there is room; what is here is still served", { detail: error.message });
    state.touch((s) => {
      s.progress.phase = "idle";
    });
    await this.heartbeat(false).catch(() => {});
    const until = Date.now() + STORAGE_FULL_RETRY_MS;
    while (!this.stopped && Date.now() < until) {
      await this.sleep(Math.max(this.options.intervalMs, ROOM_RECHECK_MS));
      if (await this.options.disk?.hasRoom(error.needed).catch(() => false)) return;
    }
  }

  private async activate(): Promise<void> {
    const { state, client, log, name, loginServer } = this.options;
    // The one sent at start is used once: a later activation (the edge deactivated, then active again) asks anew.
    const sent = this.activationSent;
    this.activationSent = undefined;
    const answer = await (sent ?? sendActivation(client, { name, instanceId: state.state.instanceId, ...(loginServer ? { loginServer } : {}) }));
    const receivedAt = new Date().toISOString();
    await state.update((s) => {
      s.activation = { status: "Active", ...(answer.activation.activatedAt ? { activatedAt: answer.activation.activatedAt } : {}) };
      // A filter changed while this agent was down: that repository is walked again, as on a feed-time change.
      const refiltered = s.cursor ? EdgeFilters.changed(s.configuration, answer.configuration) : [];
      if (refiltered.length > 0) s.unwalkedRepositories = [...new Set([...(s.unwalkedRepositories ?? []), ...refiltered])];
      s.configuration = answer.configuration;
      s.configurationReceivedAt = receivedAt;
      s.lastContactTime = receivedAt;
      // A full sync interrupted by a crash keeps its older starting point: nothing in between is skipped.
      if (!s.cursor) s.fullSyncFrom ??= answer.cursor;
    });
    this.options.onConfiguration(answer.configuration, receivedAt);
    this.activated = true;
    log.info("activated with the parent", { mode: answer.configuration.mode, repositories: answer.configuration.repositories.length, schedule: answer.configuration.schedule });
  }

  /** Walks every repository in scope; the feed then continues from where the walk began. */
  private async fullSync(): Promise<void> {
    const { state, log } = this.options;
    const from = state.state.fullSyncFrom;
    const repositories = state.state.configuration?.repositories ?? [];
    // Repositories this full sync finished before a window closed (or a crash) are not walked again.
    const walked = this.walked.walkedRepositories();
    // The first full sync of this data folder is "initial"; after an expired cursor the loop said so.
    const trigger = state.state.syncTrigger === "cursorExpired" ? "cursorExpired" : "initial";
    // What the status shows; written with the walk's first durable write (or within a second).
    state.touch((s) => {
      s.syncTrigger = trigger;
    });
    log.info("full sync started", { repositories: repositories.length, trigger, ...(walked.size > 0 ? { resumedAfter: walked.size } : {}) });
    await this.setPhase("full-sync");
    // The parent learns the edge is syncing while the walk starts: the walk does not wait for its answer.
    this.heartbeat(false, true).catch(() => {});
    for (const repository of repositories) {
      if (this.stopped) return;
      if (walked.has(repository)) continue;
      await this.syncRepository(repository);
      this.walked.repositoryWalked(repository);
    }
    const resync = state.state.configuration?.resync ?? undefined;
    await state.update((s) => {
      if (from !== undefined) s.cursor = from;
      delete s.fullSyncFrom;
      delete s.fullSyncWalked;
      // The full sync walked every repository in scope.
      delete s.unwalkedRepositories;
      // It also answers any resync request made before it.
      if (resync) s.lastResync = resync;
    });
    log.info("full sync finished");
  }

  /**
   * An operator's resync (`connected-registry resync`): when the configuration's request id is
   * not the last one carried out, every repository is walked again (what is present is not
   * fetched again), then the id is recorded, so a crash mid-walk walks again.
   */
  private async resyncIfRequested(): Promise<void> {
    const { state, log } = this.options;
    const request = state.state.configuration?.resync ?? undefined;
    if (!request || request === state.state.lastResync) return;
    await state.update((s) => {
      s.syncTrigger = "manual";
    });
    log.info("resync requested by the operator: walking every repository", { request });
    await this.setPhase("full-sync");
    this.heartbeat(false, true).catch(() => {});
    // Repositories this walk finished before a window closed (or a crash) are not walked again.
    const walked = this.walked.walkedRepositories();
    for (const repository of state.state.configuration?.repositories ?? []) {
      if (this.stopped) return;
      if (walked.has(repository)) continue;
      await this.syncRepository(repository);
      this.walked.repositoryWalked(repository);
    }
    await state.update((s) => {
      s.lastResync = request;
      delete s.fullSyncWalked;
    });
    log.info("resync finished", { request });
  }

  /** Repositories that joined the scope: walked one by one, each forgotten only once done (a failure retries it). */
  private async walkAddedRepositories(): Promise<void> {
    const { state } = this.options;
    for (const repository of [...(state.state.unwalkedRepositories ?? [])]) {
      if (state.state.configuration?.repositories.includes(repository)) {
        try {
          await this.syncRepository(repository);
        } catch (error) {
          if (windowClosedIn(error)) throw error;
          if (error instanceof StorageFullError) throw error;
          // The feed and the other repositories go on; this walk is tried again next cycle.
          this.options.log.warn("could not walk a repository new in scope yet; retrying next cycle", { repository, error: errorText(error) });
          continue;
        }
      }
      await state.update((s) => {
        s.unwalkedRepositories = (s.unwalkedRepositories ?? []).filter((name) => name !== repository);
      });
    }
  }

  /**
   * Makes a repository what the parent has: every tag applied, and what the parent does not
   * have removed (or pushed up again, local-only.ts). A tag that cannot be synced is skipped
   * and remembered (failed-items.ts); the others go on.
   */
  private async syncRepository(repository: string): Promise<void> {
    const { applier, metadata, log } = this.options;
    let tags: string[];
    try {
      tags = await this.parentTags(repository);
    } catch (error) {
      // Without the parent's tag list nothing here can be judged missing: keep it all.
      await this.objectFailed({ repository }, error);
      return;
    }
    // Tags this walk applied before a window closed (or a crash) are not fetched again.
    const done = this.walked.resume(repository);
    // The tag filter (filters.ts): only matching tags are fetched; the parent's other tags, kept here from before, go.
    const kept = tags.filter((tag) => this.filters.keepsTag(repository, tag));
    await this.removeFilteredTags(repository, tags);
    await this.setPhase("full-sync", kept.length);
    let skipped = 0;
    await runLimited(kept, IMAGE_CONCURRENCY, async (tag) => {
      if (done.has(tag)) return this.itemDone();
      this.window.throwIfClosed();
      this.progress(`${repository}:${tag}`);
      // Referrers pushed while this edge was not reading the feed come with the walk (referrers.ts).
      // The referrers list is asked as soon as the tag's digest is known, while its content downloads.
      const prefetch = (digest: string): void => this.referrers.prefetch(repository, digest);
      const apply = async (): Promise<void> => void ((await applier.applyTag(repository, tag, tag, prefetch)) && (await this.referrers.forTag(repository, tag)));
      if (!(await this.applyIsolated({ repository, tag }, apply))) skipped++;
      this.walked.tagDone(repository, tag);
      this.itemDone();
    });
    await this.options.localOnly.reconcile(repository, new Set(tags), await listAll((page) => metadata.listTags(repository, page)));
    this.walked.repositoryFinished(repository);
    await this.failed.clear({ repository });
    log.info("repository synced", { repository, tags: kept.length, ...(kept.length < tags.length ? { filteredOut: tags.length - kept.length } : {}), ...(skipped > 0 ? { skipped } : {}) });
  }

  /** Local tags the parent has but the tag filter leaves out: deleted (the parent has them, so nothing is lost); GC frees their content. */
  private async removeFilteredTags(repository: string, parentTags: string[]): Promise<void> {
    if (!this.options.state.state.configuration?.repositoryFilters) return;
    const atParent = new Set(parentTags);
    for (const tag of await listAll((page) => this.options.metadata.listTags(repository, page))) {
      if (atParent.has(tag) && !this.filters.keepsTag(repository, tag)) await this.options.applier.deleteTag(repository, tag);
    }
  }

  /**
   * Runs one object's sync. A failure that belongs to the object (the parent refused it, its
   * content does not verify) is recorded and skipped; one of the link or the credentials stops
   * the cycle as before. Returns whether it synced.
   */
  private async applyIsolated(item: ItemKey, apply: () => Promise<unknown>): Promise<boolean> {
    try {
      await apply();
    } catch (error) {
      await this.objectFailed(item, error);
      return false;
    }
    await this.failed.clear(item);
    return true;
  }

  private async objectFailed(item: ItemKey, error: unknown): Promise<void> {
    if (!isObjectFailure(error)) throw error;
    await this.failed.record(item, errorText(error));
    this.options.metrics.syncErrors.inc({ kind: "object" });
    this.options.log.warn("could not sync an object; skipped, retrying at a later cycle", { item: itemName(item), error: errorText(error) });
  }

  /** Objects skipped earlier, tried again (each at most every FAILED_RETRY_MS). */
  private async retryFailed(): Promise<void> {
    const { applier, state } = this.options;
    for (const item of this.failed.due()) {
      if (this.stopped) return;
      this.window.throwIfClosed();
      const { repository, tag, digest } = item;
      if (!state.state.configuration?.repositories.includes(repository) || (tag && !this.filters.keepsTag(repository, tag))) {
        await this.failed.clear(item);
      } else if (tag) {
        // Whatever the parent has now is the truth, as for an unconfirmed feed entry.
        await this.applyIsolated(item, async () => {
          if (!(await applier.applyTag(repository, tag))) await applier.deleteTag(repository, tag);
          else await this.referrers.forTag(repository, tag);
        });
      } else if (digest) {
        await this.applyIsolated(item, () => applier.applyManifest(repository, digest));
      } else {
        await this.syncRepository(repository);
      }
    }
  }

  private async parentTags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    let path: string | undefined = `/v2/${repository}/tags/list?n=1000`;
    while (path) {
      const response = await this.options.client.request("GET", path, { headers: { Accept: "application/json" } });
      if (response.status === 404) {
        response.body.resume();
        return [];
      }
      if (response.status !== 200) throw await RemoteError.fromResponse(response, `GET /v2/${repository}/tags/list`);
      const body = await response.json<{ tags?: string[] | null }>();
      tags.push(...(body.tags ?? []));
      const next = /<([^>]+)>;\s*rel="?next"?/.exec(response.headers.get("link") ?? "");
      path = next?.[1];
    }
    return tags;
  }

  private async readFeed(): Promise<void> {
    const { state, client, metrics } = this.options;
    for (;;) {
      this.window.throwIfClosed();
      const cursor = state.state.cursor ?? "";
      const page = await client.json<FeedAnswer>(
        "GET",
        `${this.base}/feed?cursor=${encodeURIComponent(cursor)}&limit=${FEED_PAGE}&instance=${encodeURIComponent(state.state.instanceId)}`,
      );
      if (page.configurationVersion !== state.state.configuration?.version) await this.refreshConfiguration();
      if (page.head) this.lag = { changes: page.head.behind + page.changes.length, ...(page.changes[0]?.createdAt ? { oldestCreatedAt: page.changes[0].createdAt } : {}) };
      if (page.changes.length > 0) {
        if (state.state.syncTrigger !== "scheduled") await state.update((s) => void (s.syncTrigger = "scheduled"));
        await this.setPhase("feed", page.changes.length);
        await this.applyChanges(page.changes);
        metrics.changesApplied.inc(page.changes.length);
      }
      if (page.head) this.lag = { changes: page.head.behind };
      await state.update((s) => {
        s.cursor = page.cursor;
        s.lastContactTime = new Date().toISOString();
      });
      if (!page.more || this.stopped) return;
    }
  }

  private async refreshConfiguration(): Promise<void> {
    const { state, client, log } = this.options;
    const previous = state.state.configuration;
    const configuration = await client.json<EdgeConfiguration>("GET", `${this.base}/configuration?instance=${encodeURIComponent(state.state.instanceId)}`);
    const receivedAt = new Date().toISOString();
    await state.update((s) => {
      s.configuration = configuration;
      s.configurationReceivedAt = receivedAt;
    });
    this.options.onConfiguration(configuration, receivedAt);
    log.info("configuration changed", { mode: configuration.mode, repositories: configuration.repositories.length, clientTokens: configuration.clientTokens.length });
    // A repository new in scope has history the feed will not replay: it is walked before the next feed read.
    const before = new Set(previous?.repositories ?? []);
    // So is one whose filter changed: the walk fetches what now matches and removes what no longer does.
    const added = [...new Set([...configuration.repositories.filter((repository) => !before.has(repository)), ...EdgeFilters.changed(previous, configuration)])];
    if (added.length > 0) {
      await state.update((s) => {
        s.unwalkedRepositories = [...new Set([...(s.unwalkedRepositories ?? []), ...added])];
      });
    }
    // A repository out of scope is no longer served: its tags go (ReadWrite keeps local pushes not yet up: scope-removal.ts).
    const now = new Set(configuration.repositories);
    for (const repository of before) {
      if (now.has(repository)) continue;
      const { kept } = await removeRepositoryFromScope(repository, {
        mode: configuration.mode,
        metadata: this.options.metadata,
        applier: this.options.applier,
        changes: this.options.localChanges,
        upstreamAfter: state.state.upstreamAfter,
      });
      log.info("repository left the scope: its tags were removed", { repository, ...(kept.length > 0 ? { keptUnpushedLocalTags: kept } : {}) });
    }
  }

  /** Changes to one repository apply in feed order; different repositories go in parallel. */
  private async applyChanges(changes: FeedChange[]): Promise<void> {
    const byRepository = new Map<string, FeedChange[]>();
    for (const change of changes) {
      // Our own upstream pushes come back in the feed: they are here already.
      if (change.source === this.options.name) {
        this.itemDone();
        continue;
      }
      byRepository.set(change.repository, [...(byRepository.get(change.repository) ?? []), change]);
    }
    await runLimited([...byRepository.values()], IMAGE_CONCURRENCY, async (list) => {
      for (const change of list) {
        // The cursor stays before this page: what was not applied is read again at the next window.
        this.window.throwIfClosed();
        this.progress(`${change.repository}${change.tag ? `:${change.tag}` : `@${change.digest ?? ""}`}`);
        const item = change.tag ? { repository: change.repository, tag: change.tag } : { repository: change.repository, digest: change.digest ?? "" };
        await this.applyIsolated(item, () => this.applyChange(change));
        this.itemDone();
      }
    });
  }

  private async applyChange(change: FeedChange): Promise<void> {
    const { applier } = this.options;
    const { repository, tag, digest } = change;
    // "unconfirmed": the writer never finished; whatever the parent has now is the truth.
    const reread = change.state === "unconfirmed";
    if (!(await this.feedKeeps(change))) return;
    switch (change.kind) {
      case "tag.set":
      case "tag.delete":
        if (!tag) return;
        if (change.kind === "tag.set" && !reread && digest) {
          // A later entry moves or deletes the tag if the parent no longer has this digest.
          await this.referrers.withReferrers(repository, digest, () => applier.applyTag(repository, tag, digest));
        } else if (change.kind === "tag.delete" && !reread) {
          await applier.deleteTag(repository, tag);
        } else if (!(await applier.applyTag(repository, tag))) {
          await applier.deleteTag(repository, tag);
        }
        return;
      case "manifest.put":
      case "manifest.delete":
        if (!digest) return;
        if (change.kind === "manifest.delete" && !reread) await applier.deleteManifest(repository, digest);
        else if (!(await this.referrers.withReferrers(repository, digest, () => applier.applyManifest(repository, digest))) && change.kind === "manifest.delete") await applier.deleteManifest(repository, digest);
        return;
    }
  }

  /**
   * The filters on a feed entry (filters.ts): a tag the filter leaves out is not fetched (and
   * goes, if an older filter kept it). In a filtered repository an untagged manifest comes only
   * as a referrer of one kept here; the platforms of an index come with its tag.
   */
  private async feedKeeps(change: FeedChange): Promise<boolean> {
    const { repository, tag, digest } = change;
    const filter = this.filters.of(repository);
    if (!filter) return true;
    if (tag) {
      if (filter.keepsTag(tag)) return true;
      await this.options.applier.deleteTag(repository, tag);
      return false;
    }
    if (change.kind !== "manifest.put" || !digest || (await this.options.metadata.getManifest(repository, digest))) return true;
    const subject = await this.options.applier.subjectAtParent(repository, digest);
    return subject !== undefined && (await this.options.metadata.getManifest(repository, subject)) !== undefined;
  }

  /** Tells the parent how this edge is doing; at most every 30 s unless there is news (or `force`: progress while syncing). */
  private async heartbeat(failed: boolean, force = false): Promise<void> {
    const { state } = this.options;
    if (!this.activated) return;
    const lastError = failed ? state.state.lastError : undefined;
    const parked = (state.state.upstreamParked ?? []).map((entry) => ({ item: parkedName(entry), error: `parked: ${entry.error}`, since: entry.since }));
    const failures = [...this.failed.all.map((item) => ({ item: itemName(item), error: item.error, since: item.since })), ...parked]
      .slice(0, MAX_REPORTED_FAILURES)
      .map((failure) => ({ ...failure, error: failure.error.slice(0, 500) }));
    const phase = state.state.progress.phase;
    const news = JSON.stringify([lastError, failures.map((f) => f.item), phase === "idle", (state.state.conditions ?? []).map((c) => [c.code, c.since])]);
    // Notifications waiting for the parent are news too: they go at the next cycle's end.
    const notifying = (this.options.notifications?.pending(1).length ?? 0) > 0;
    // Changed tags are news too: the parent's "where is it" should not wait for the next heartbeat.
    const tagsChanged = this.inventory?.stale ?? false;
    if (!force && !notifying && !tagsChanged && news === this.reported && Date.now() - this.lastHeartbeat < HEARTBEAT_MS) return;
    await this.reporter.send({
      syncing: phase !== "idle",
      progress: this.options.runProgress.report(phase),
      ...(this.lag ? { lag: { changes: this.lag.changes, oldestChangeAgeSeconds: this.lag.oldestCreatedAt ? Math.max(0, (Date.now() - Date.parse(this.lag.oldestCreatedAt)) / 1000) : null } } : {}),
      ...(state.state.syncTrigger ? { trigger: state.state.syncTrigger } : {}),
      ...(lastError ? { lastError } : {}),
      failures,
    });
    this.lastHeartbeat = Date.now();
    this.reported = news;
  }

  private async setPhase(phase: "full-sync" | "feed" | "upstream", itemsTotal = 0): Promise<void> {
    this.options.runProgress.objectsListed(itemsTotal);
    this.options.state.touch((s) => {
      s.progress = { ...s.progress, phase, itemsDone: 0, itemsTotal, startedAt: new Date().toISOString() };
    });
  }

  private progress(current: string): void {
    this.options.state.touch((s) => {
      s.progress.current = current;
    });
    this.options.log.debug("syncing", { item: current });
  }

  private itemDone(): void {
    this.options.runProgress.objectDone();
    this.options.state.touch((s) => {
      s.progress.itemsDone++;
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

