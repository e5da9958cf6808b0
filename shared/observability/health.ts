/**
 * GET /health: whether the registry can reach what it stands on (Cosmos DB, Blob Storage, the
 * import queue). 200 when every check passes, 503 naming the ones that failed; each check is
 * bounded in time so a hung dependency answers as one.
 */
import type { Handler } from "../http/types.js";

export type HealthChecks = Record<string, () => Promise<unknown>>;

const CHECK_TIMEOUT_MS = 5000;

export function createHealthHandler(checks: HealthChecks): Handler {
  return async () => {
    const results = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        const started = Date.now();
        try {
          await Promise.race([check(), new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS).unref())]);
          return [name, { status: "Healthy", milliseconds: Date.now() - started }] as const;
        } catch (error) {
          return [name, { status: "Unhealthy", milliseconds: Date.now() - started, error: error instanceof Error ? error.message : String(error) }] as const;
        }
      }),
    );
    const healthy = results.every(([, result]) => result.status === "Healthy");
    const body = JSON.stringify({ status: healthy ? "Healthy" : "Unhealthy", checks: Object.fromEntries(results) });
    return { status: healthy ? 200 : 503, headers: { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" }, body };
  };
}
