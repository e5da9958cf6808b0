/**
 * Structured log lines: one JSON object per line, with the time, the level, the request's
 * correlation id (when there is one) and the message. In Azure, stderr goes to Application
 * Insights through the Functions host; locally, to the terminal.
 */
import { currentCorrelationId } from "./correlation.js";

export type LogLevel = "info" | "warn" | "error";

export function logLine(level: LogLevel, message: string, fields: Record<string, unknown> = {}): string {
  const correlationId = currentCorrelationId();
  return JSON.stringify({ time: new Date().toISOString(), level, ...(correlationId ? { correlationId } : {}), message, ...fields });
}

/** The default `log` of the handlers: errors they could not answer more precisely. */
export function logError(message: string): void {
  process.stderr.write(logLine("error", message) + "\n");
}
