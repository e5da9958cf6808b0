/**
 * Which connected registry a sync token belongs to, for recording the source of upstream
 * pushes. The map is rebuilt every `ttlMs`, and on a miss at most once a second (a
 * connected registry created a moment ago is found at once; ordinary tokens, which
 * always miss, cost one list per second at most).
 */
import type { ConnectedRegistryStore } from "../store/connected-registry-store.js";

const MISS_REFRESH_MS = 1000;

export function createOriginResolver(store: ConnectedRegistryStore, ttlMs: number, now: () => number = Date.now) {
  let cached: { bySyncToken: Map<string, string>; builtAt: number } | undefined;
  const rebuild = async (): Promise<Map<string, string>> => {
    const records = await store.list();
    cached = { bySyncToken: new Map(records.map((record) => [record.syncToken, record.name])), builtAt: now() };
    return cached.bySyncToken;
  };
  return async (tokenName: string): Promise<string | undefined> => {
    if (!cached || now() - cached.builtAt >= ttlMs) return (await rebuild()).get(tokenName);
    const hit = cached.bySyncToken.get(tokenName);
    if (hit !== undefined || now() - cached.builtAt < MISS_REFRESH_MS) return hit;
    return (await rebuild()).get(tokenName);
  };
}
