/**
 * Structured logs: one JSON object per line on stderr, with a level, a time and the
 * fields that say what happened. Secrets are never passed in: callers log names, never
 * passwords or Authorization headers.
 */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** What `--log-level` and the parent's `logging` may set: a level, or "none" (nothing is written). */
export const LOG_THRESHOLDS = [...LOG_LEVELS, "none"] as const;
export type LogThreshold = (typeof LOG_THRESHOLDS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Changes the threshold at run time (the parent's `logging` setting can change). */
  setLevel(level: LogThreshold): void;
}

/**
 * The parent's `logging` values (ACR's names) as thresholds. "None" silences the log
 * entirely; sync errors still reach `status` (state.json's lastError) and the parent's
 * heartbeat, which do not go through the log.
 */
export function levelFromParent(logging: string): LogThreshold {
  switch (logging) {
    case "Debug":
      return "debug";
    case "Warning":
      return "warn";
    case "Error":
      return "error";
    case "None":
      return "none";
    default:
      return "info";
  }
}

export function createLogger(level: LogThreshold, write: (line: string) => void = (line) => process.stderr.write(line + "\n")): Logger {
  let threshold = LOG_THRESHOLDS.indexOf(level);
  const emit = (at: LogLevel) => (message: string, fields?: LogFields) => {
    if (LOG_THRESHOLDS.indexOf(at) < threshold) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: at, message, ...fields }));
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    setLevel: (next) => {
      threshold = LOG_THRESHOLDS.indexOf(next);
    },
  };
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
