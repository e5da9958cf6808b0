/**
 * The connected-registry health sweep: an active edge that has not called for a while
 * is marked Offline, so `show` tells the operator. Idempotent, and safe on several
 * instances at once (a record changed meanwhile is simply left for the next run).
 */
import type { ConnectedRegistryStore } from "../store/connected-registry-store.js";
import { ConcurrentUpdateError } from "../store/interfaces.js";
import { withStatusHistory } from "../domain/connected-registry/index.js";

/** Heartbeats come every minute or so; five missed ones mean the edge or its link is down. */
export const SILENCE_BEFORE_OFFLINE_MS = 5 * 60 * 1000;

export async function markSilentRegistriesOffline(store: ConnectedRegistryStore, now: number, log: (message: string) => void): Promise<string[]> {
  const marked: string[] = [];
  for (const record of await store.list()) {
    if (record.activation.status !== "Active" || record.connectionState === "Offline") continue;
    const lastHeard = record.lastActivityTime ? Date.parse(record.lastActivityTime) : 0;
    if (now - lastHeard < SILENCE_BEFORE_OFFLINE_MS) continue;
    try {
      await store.replace(withStatusHistory(record, { ...record, connectionState: "Offline" }, new Date(now).toISOString()));
      marked.push(record.name);
    } catch (error) {
      if (!(error instanceof ConcurrentUpdateError)) throw error;
    }
  }
  // It runs every minute: say something only when it did something.
  if (marked.length > 0) log(`connected-registry-health: marked ${marked.length} silent connected registr${marked.length === 1 ? "y" : "ies"} Offline: ${marked.join(", ")}`);
  return marked;
}
