/**
 * GET /healthz and GET /readyz: what a Kubernetes probe, a load balancer or a systemd
 * watchdog script asks. No authentication (probes carry no credentials) and no names or
 * secrets in the answers, the same rule as GET /status.
 *
 * Liveness is "the process answers HTTP": a restart cures nothing else, and a parent that
 * is down must never get a serving edge killed. Readiness is "a pull can succeed here": the
 * data folder takes writes (uploads, sync and the state file need it; a full or read-only
 * volume shows here first), and the agent has a configuration from its parent (local auth
 * needs its client tokens): activated now, or activated before and serving that content
 * while the parent is unreachable or has deactivated it.
 */
import { randomUUID } from "node:crypto";
import { open, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Handler, HandlerResponse } from "../../shared/http/types.js";
import type { EdgeState } from "./state.js";
import { dataFolderProblem } from "./store/data-folder-guard.js";

/** Probe files start with this; a crash between write and unlink leaves a 2-byte file that nothing reads. */
const PROBE_FILE_PREFIX = ".readyz-probe-";

export function createLivenessHandler(): Handler {
  return async () => healthAnswer(200, { status: "ok" });
}

export function createReadinessHandler(dataDir: string, state: () => Readonly<EdgeState>): Handler {
  return async () => {
    const storage = await probeWrite(dataDir);
    if (storage) return healthAnswer(503, { status: "not ready", reason: `the data folder does not take writes (${storage})` });
    const current = state();
    const activation = current.activation.status;
    if (!current.configuration) {
      const reason =
        activation === "Deactivated"
          ? "deactivated at the parent before any activation succeeded: nothing to serve"
          : `not activated yet: waiting for the parent${current.lastError ? ` (last error: ${current.lastError})` : ""}`;
      return healthAnswer(503, { status: "not ready", reason, activation });
    }
    return healthAnswer(200, {
      status: "ready",
      activation,
      fullSyncDone: Boolean(current.cursor),
      // Ready but worth a look: the content is what an earlier activation synced.
      ...(activation === "Active" ? {} : { note: "serving the content of an earlier activation" }),
    });
  };
}

/**
 * Writes, fsyncs and removes a small file in the data folder; answers the error code when that
 * fails, or ESTALE when the folder is not the one the agent started with (an unmounted volume's
 * empty mount point takes writes, but not the agent's: data-folder-guard.ts).
 */
async function probeWrite(dataDir: string): Promise<string | undefined> {
  const problem = await dataFolderProblem(dataDir);
  if (problem === "ESTALE") return "ESTALE: replaced by another folder";
  // A name per probe: concurrent probes never race on one file.
  const file = join(dataDir, `${PROBE_FILE_PREFIX}${randomUUID()}`);
  try {
    const handle = await open(file, "wx", 0o600);
    try {
      await handle.writeFile("ok");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await unlink(file);
    return undefined;
  } catch (error) {
    await unlink(file).catch(() => {});
    return (error as NodeJS.ErrnoException).code ?? "error";
  }
}

function healthAnswer(status: 200 | 503, body: Record<string, unknown>): HandlerResponse {
  // Never cached: a probe must see now, not what a proxy remembered.
  return { status, headers: { "Content-Type": "application/json", "Cache-Control": "no-store" }, body: JSON.stringify(body) };
}
