/**
 * Runs garbage collections when the connected registry's `garbageCollection` setting says
 * (5-field cron, UTC), read afresh at every turn so a change from the parent takes effect
 * without a restart. A parent that sends no setting gets the default: on, daily at 03:00 UTC.
 */
import { nextSyncStart, scheduleProblem } from "../../../shared/domain/connected-registry/sync-settings.js";
import type { EdgeConfiguration } from "../../../shared/sync/configuration.js";

export const DEFAULT_GC_SCHEDULE = "0 3 * * *";
/** The setting is looked at again at least this often, so a new schedule is picked up. */
const RECHECK_MS = 60_000;

export type GcSetting = NonNullable<EdgeConfiguration["garbageCollection"]>;

export function effectiveGcSetting(configuration: EdgeConfiguration | undefined): GcSetting {
  return configuration?.garbageCollection ?? { enabled: true, schedule: DEFAULT_GC_SCHEDULE };
}

export class GcScheduler {
  private timer: NodeJS.Timeout | undefined;
  private due: number | undefined;
  private dueSchedule: string | undefined;
  private stopped = false;
  private collecting: Promise<unknown> | undefined;

  constructor(
    private readonly setting: () => GcSetting,
    private readonly collect: () => Promise<unknown>,
    private readonly warn: (message: string, fields?: Record<string, unknown>) => void,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.stopped = false;
    this.turn();
  }

  /** Stops scheduling and waits for a collection it started. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.collecting?.catch(() => undefined);
  }

  private turn(): void {
    if (this.stopped) return;
    const { enabled, schedule } = this.setting();
    const problem = enabled ? scheduleProblem(schedule) : undefined;
    if (problem) this.warn("garbage collection schedule is not usable; collections are off until it is fixed", { schedule, problem });
    if (!enabled || problem) {
      this.due = undefined;
    } else if (this.due === undefined || this.dueSchedule !== schedule) {
      this.due = nextSyncStart(schedule, new Date(this.now())).getTime();
      this.dueSchedule = schedule;
    } else if (this.now() >= this.due) {
      this.due = undefined;
      this.collecting = this.collect()
        .catch((error: unknown) => this.warn("garbage collection failed", { error: error instanceof Error ? error.message : String(error) }))
        .finally(() => {
          this.collecting = undefined;
          this.turn();
        });
      return;
    }
    const wait = this.due === undefined ? RECHECK_MS : Math.max(0, Math.min(RECHECK_MS, this.due - this.now()));
    this.timer = setTimeout(() => this.turn(), wait);
    this.timer.unref();
  }
}
