/**
 * Structured logs: one JSON object per line on stderr, with a level, a time and the
 * fields that say what happened. Secrets are never passed in: callers log names, never
 * passwords or Authorization headers.
 */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Changes the threshold at run time (the parent's `logging` setting can change). */
  setLevel(level: LogLevel): void;
}

/** The parent's `logging` values (ACR's names) as log levels. */
export function levelFromParent(logging: string): LogLevel {
  switch (logging) {
    case "Debug":
      return "debug";
    case "Warning":
      return "warn";
    case "Error":
    case "None":
      return "error";
    default:
      return "info";
  }
}

export function createLogger(level: LogLevel, write: (line: string) => void = (line) => process.stderr.write(line + "\n")): Logger {
  let threshold = LOG_LEVELS.indexOf(level);
  const emit = (at: LogLevel) => (message: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(at) < threshold) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: at, message, ...fields }));
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    setLevel: (next) => {
      threshold = LOG_LEVELS.indexOf(next);
    },
  };
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
