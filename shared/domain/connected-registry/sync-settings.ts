/**
 * When a connected registry syncs, and how long its parent keeps messages for it.
 *
 * - `schedule`: a 5-field cron expression in UTC (minute hour day-of-month month
 *   day-of-week). The default, `* * * * *`, means continuous: the edge is always online
 *   and syncs as changes arrive. Cron is parsed by cron-parser, never by hand.
 * - `syncWindow`: an ISO 8601 duration, 1 hour to 7 days; how long each scheduled sync
 *   stays open. A continuous schedule has no windows, so a window is only allowed (and
 *   then required, as `az acr connected-registry` requires it) with a schedule that is
 *   not continuous.
 * - `messageTtl`: an ISO 8601 duration, 1 to 90 days; changes older than this are
 *   dropped and an edge that has been away longer must resync from scratch.
 *
 * Durations are parsed by luxon. Months and years are refused: their length depends on
 * the calendar, and a bound such as "at most 90 days" must not.
 */
import { CronExpressionParser, type CronExpression } from "cron-parser";
import { Duration } from "luxon";
import { z } from "zod";

export const CONTINUOUS_SCHEDULE = "* * * * *";
export const DEFAULT_MESSAGE_TTL = "P2D";

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

export const SYNC_WINDOW_BOUNDS = { min: HOUR, max: 7 * DAY, text: "between 1 hour (PT1H) and 7 days (P7D)" } as const;
export const MESSAGE_TTL_BOUNDS = { min: DAY, max: 90 * DAY, text: "between 1 day (P1D) and 90 days (P90D)" } as const;

const CRON_FIELDS = "minute hour day-of-month month day-of-week";

/** A schedule problem in words, or undefined when cron-parser accepts the expression and it ever fires. */
export function scheduleProblem(schedule: string): string | undefined {
  const fields = schedule.trim().split(/\s+/).filter((field) => field.length > 0);
  // cron-parser also takes 6 fields (seconds first), @macros and fewer fields; ACR's schedules are 5 fields.
  if (fields.length !== 5) return `"${schedule}" is not a cron expression of 5 fields (${CRON_FIELDS}); it has ${fields.length}`;
  // cron-parser's "H" picks a value from a hash seed, so the same text could mean different times.
  // ("thu" is the only month or day name with an "h" in it.)
  if (/h/i.test(schedule.replace(/thu/gi, ""))) {
    return `"${schedule}" uses "H", which has no fixed meaning; write the minute and hour out`;
  }
  let expression: CronExpression;
  try {
    expression = parse(schedule, new Date(0));
  } catch (error) {
    return `"${schedule}" is not a valid cron expression: ${(error as Error).message}`;
  }
  try {
    expression.next();
  } catch {
    return `"${schedule}" never fires`;
  }
  return undefined;
}

/** A duration problem in words, or undefined when it is an ISO 8601 duration inside the bounds. */
function durationProblem(text: string, bounds: { min: number; max: number; text: string }): string | undefined {
  const duration = Duration.fromISO(text);
  if (!duration.isValid) return `"${text}" is not an ISO 8601 duration (such as PT4H or P2D)`;
  const units = duration.toObject();
  if (units.years !== undefined || units.months !== undefined) {
    return `"${text}" uses years or months, whose length depends on the calendar; use days (D), weeks (W) or hours (H)`;
  }
  const milliseconds = duration.as("milliseconds");
  if (milliseconds < bounds.min || milliseconds > bounds.max) return `"${text}" is out of range: use a duration ${bounds.text}`;
  return undefined;
}

/** True when the schedule fires every minute of every day, however it is written (`*\/1 * * * *` too). */
export function isContinuous(schedule: string): boolean {
  const fields = parse(schedule, new Date(0)).fields;
  const covers = (values: readonly (number | string)[], from: number, to: number): boolean => {
    for (let value = from; value <= to; value++) if (!values.includes(value)) return false;
    return true;
  };
  return (
    covers(fields.minute.values, 0, 59) &&
    covers(fields.hour.values, 0, 23) &&
    covers(fields.dayOfMonth.values, 1, 31) &&
    covers(fields.month.values, 1, 12) &&
    covers(fields.dayOfWeek.values, 0, 6)
  );
}

export const syncSettingsSchema = z
  .object({
    schedule: z
      .string()
      .default(CONTINUOUS_SCHEDULE)
      .superRefine((schedule, context) => {
        const problem = scheduleProblem(schedule);
        if (problem) context.addIssue({ code: "custom", message: problem });
      }),
    syncWindow: z
      .string()
      .optional()
      .superRefine((window, context) => {
        const problem = window === undefined ? undefined : durationProblem(window, SYNC_WINDOW_BOUNDS);
        if (problem) context.addIssue({ code: "custom", message: problem });
      }),
    messageTtl: z
      .string()
      .default(DEFAULT_MESSAGE_TTL)
      .superRefine((ttl, context) => {
        const problem = durationProblem(ttl, MESSAGE_TTL_BOUNDS);
        if (problem) context.addIssue({ code: "custom", message: problem });
      }),
  })
  .superRefine((settings, context) => {
    // A bad schedule has been reported already; whether it is continuous is then unknown.
    if (scheduleProblem(settings.schedule) !== undefined) return;
    const continuous = isContinuous(settings.schedule);
    if (continuous && settings.syncWindow !== undefined) {
      context.addIssue({
        code: "custom",
        path: ["syncWindow"],
        message: `"${settings.syncWindow}" is only allowed with a schedule that is not continuous, and schedule "${settings.schedule}" syncs continuously; set a schedule or remove syncWindow`,
      });
    }
    if (!continuous && settings.syncWindow === undefined) {
      context.addIssue({
        code: "custom",
        path: ["syncWindow"],
        message: `is required with schedule "${settings.schedule}": say how long each sync stays open, ${SYNC_WINDOW_BOUNDS.text}`,
      });
    }
  });

export type SyncSettings = z.infer<typeof syncSettingsSchema>;
export type SyncSettingsInput = z.input<typeof syncSettingsSchema>;

export type SyncSettingsResult = { ok: true; settings: SyncSettings } | { ok: false; message: string };

/** Validates sync settings and fills in the defaults; the message names each bad field and its value. */
export function validateSyncSettings(input: unknown): SyncSettingsResult {
  const result = syncSettingsSchema.safeParse(input);
  if (result.success) return { ok: true, settings: result.data };
  const problems = result.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message));
  return { ok: false, message: `invalid sync settings: ${problems.join("; ")}` };
}

/** Milliseconds in a validated ISO 8601 duration (a syncWindow or messageTtl). */
export function durationMilliseconds(duration: string): number {
  const parsed = Duration.fromISO(duration);
  if (!parsed.isValid) throw new Error(`"${duration}" is not an ISO 8601 duration`);
  return parsed.as("milliseconds");
}

/**
 * Whether `now` falls inside a sync window: within [start, start + window) of a
 * scheduled start. A continuous schedule is always inside. Only the latest start at or
 * before `now` needs checking: every window has the same length, so an earlier start's
 * window ends no later than the latest one's.
 */
export function isInsideWindow(schedule: string, syncWindow: string | undefined, now: Date): boolean {
  if (isContinuous(schedule)) return true;
  if (syncWindow === undefined) throw new Error(`schedule "${schedule}" is not continuous and needs a sync window`);
  // prev() is strictly before its current date, so start 1 ms later for `now` on a start to count.
  const start = parse(schedule, new Date(now.getTime() + 1)).prev().getTime();
  return now.getTime() < start + durationMilliseconds(syncWindow);
}

/**
 * When the sync window around `now` closes (ms since the epoch): Infinity for a continuous
 * schedule; at or before `now` when `now` is outside every window. A sync that runs checks
 * this against its clock to stop when its window closes, not only before it starts.
 */
export function syncWindowEnd(schedule: string, syncWindow: string | undefined, now: Date): number {
  if (isContinuous(schedule)) return Infinity;
  if (syncWindow === undefined) throw new Error(`schedule "${schedule}" is not continuous and needs a sync window`);
  const start = parse(schedule, new Date(now.getTime() + 1)).prev().getTime();
  return start + durationMilliseconds(syncWindow);
}

/** The first scheduled start strictly after `now` (a sync that starts at `now` is already inside its window). */
export function nextSyncStart(schedule: string, now: Date): Date {
  return new Date(parse(schedule, now).next().getTime());
}

function parse(schedule: string, currentDate: Date): CronExpression {
  // Schedules are UTC, whatever the machine's zone, so cloud and edge agree on when a window opens.
  return CronExpressionParser.parse(schedule, { currentDate, tz: "UTC" });
}
