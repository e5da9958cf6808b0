/**
 * What `connected-registry status` and GET /status show: the state without the password
 * verifiers (hashes are not passwords, but nobody needs to read them). GET /status needs no
 * credentials, so it leaves out the names of client tokens and children: those are for
 * whoever can read the data folder.
 */
import { formatGcSummary } from "./gc/report.js";
import { parkedName } from "./sync/parked-upstream.js";
import type { EdgeState } from "./state.js";

export function statusView(state: EdgeState, options: { names: boolean }): Record<string, unknown> {
  const configuration = state.configuration;
  return {
    name: state.connectedRegistryName,
    instanceId: state.instanceId,
    activation: state.activation,
    mode: configuration?.mode,
    repositories: configuration?.repositories,
    schedule: configuration?.schedule,
    syncWindow: configuration?.syncWindow,
    ...(state.nextSyncWindow ? { outsideSyncWindow: `outside the sync window, next window at ${state.nextSyncWindow}` } : {}),
    ...(options.names
      ? {
          clientTokens: configuration?.clientTokens.map((token) => ({ name: token.name, status: token.status })),
          children: Object.entries(state.children).map(([name, child]) => ({ name, activated: Boolean(child.instanceId), lastActivityTime: child.lastActivityTime })),
        }
      : { clientTokens: configuration?.clientTokens.length ?? 0, children: Object.keys(state.children).length }),
    fullSyncDone: Boolean(state.cursor),
    lastSyncTime: state.lastSyncTime,
    lastSyncTrigger: state.syncTrigger,
    ...(state.lastResync ? { lastResync: state.lastResync } : {}),
    lastContactTime: state.lastContactTime,
    lastError: state.lastError,
    failedItems: (state.failedItems ?? []).map(({ repository, tag, digest, error, since }) => ({ repository, tag, digest, error, since })),
    parkedUpstream: (state.upstreamParked ?? []).map(({ repository, kind, tag, digest, error, since, lastTried }) => ({ repository, kind, tag, digest, error, since, lastTried })),
    conditions: state.conditions ?? [],
    progress: state.progress,
    garbageCollection: state.garbageCollection,
  };
}

/** A few lines for a person. */
export function formatStatus(state: EdgeState): string {
  const view = statusView(state, { names: true });
  const progress = state.progress;
  const lines = [
    `connected registry: ${state.connectedRegistryName ?? "(never started)"}`,
    `activation:         ${state.activation.status}${state.activation.message ? ` (${state.activation.message})` : ""}`,
    `mode:               ${String(view.mode ?? "unknown until activation")}`,
    `repositories:       ${(state.configuration?.repositories ?? []).join(", ") || "-"}`,
    `schedule:           ${state.configuration ? `${state.configuration.schedule}${state.configuration.syncWindow ? ` window ${state.configuration.syncWindow}` : ""}` : "-"}`,
    `client tokens:      ${(state.configuration?.clientTokens ?? []).map((t) => `${t.name}${t.status === "enabled" ? "" : " (disabled)"}`).join(", ") || "-"}`,
    ...(state.nextSyncWindow ? [`sync window:        outside the sync window, next window at ${state.nextSyncWindow}`] : []),
    `full sync:          ${state.cursor ? "done" : state.fullSyncFrom ? "in progress" : "not started"}`,
    `last sync:          ${state.lastSyncTime ?? "never"}${state.syncTrigger ? ` (${state.syncTrigger})` : ""}`,
    `sync progress:      ${progress.phase}${progress.phase !== "idle" ? ` ${progress.itemsDone}/${progress.itemsTotal}${progress.current ? ` (${progress.current})` : ""}` : ""}, ${(progress.bytesFetched / 1048576).toFixed(1)} MiB fetched`,
  ];
  lines.push(`last collection:    ${formatGcSummary(state.garbageCollection)}`);
  for (const condition of state.conditions ?? []) lines.push(`condition:          ${condition.code} since ${condition.since}: ${condition.description}`);
  if (state.lastError) lines.push(`last error:         ${state.lastError}`);
  for (const item of state.failedItems ?? []) {
    lines.push(`not synced:         ${item.tag ? `${item.repository}:${item.tag}` : item.digest ? `${item.repository}@${item.digest}` : item.repository} (since ${item.since}): ${item.error}`);
  }
  for (const entry of state.upstreamParked ?? []) {
    lines.push(`parked:             ${parkedName(entry)} (since ${entry.since}, last tried ${entry.lastTried}): ${entry.error}`);
  }
  return lines.join("\n");
}
