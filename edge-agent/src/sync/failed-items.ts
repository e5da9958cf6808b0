/**
 * Objects the edge could not sync (a blob missing at the parent, a manifest that does not
 * verify): skipped and remembered in the state file, so one broken object never stalls a
 * full sync or the feed. They are retried at later cycles, shown in `status`, and reported
 * to the parent in the heartbeat (its statusDetails).
 */
import { RegistryError } from "../../../shared/domain/registry-errors.js";
import { RemoteError } from "../../../shared/remote/http-client.js";
import { DigestMismatchError } from "../store/fs-blob-store.js";
import type { FailedItem, StateFile } from "../state.js";

/** A failed object is tried again at most this often. */
export const FAILED_RETRY_MS = 30_000;
/** How many are kept and reported: beyond that the parent has bigger problems than a list shows. */
const MAX_FAILED_ITEMS = 100;

/**
 * Whether the failure belongs to one object (skip it, go on) rather than to the link or
 * the credentials (stop the cycle, back off): the parent answered, and refused this object.
 */
export function isObjectFailure(error: unknown): boolean {
  const refusedForThisObject = (status: number): boolean => status >= 400 && status < 500 && ![401, 408, 429].includes(status);
  if (error instanceof RemoteError) return refusedForThisObject(error.status);
  // The local engine refusing what the parent sent (an invalid manifest); not its "too busy, retry".
  if (error instanceof RegistryError) return refusedForThisObject(error.status);
  return error instanceof DigestMismatchError;
}

export type ItemKey = Pick<FailedItem, "repository" | "tag" | "digest">;

export function itemName(item: ItemKey): string {
  return item.tag ? `${item.repository}:${item.tag}` : item.digest ? `${item.repository}@${item.digest}` : item.repository;
}

const same = (a: ItemKey, b: ItemKey): boolean => a.repository === b.repository && a.tag === b.tag && a.digest === b.digest;

export class FailedItems {
  constructor(private readonly state: StateFile) {}

  get all(): readonly FailedItem[] {
    return this.state.state.failedItems ?? [];
  }

  async record(item: ItemKey, error: string): Promise<void> {
    const now = new Date().toISOString();
    await this.state.update((s) => {
      const list = s.failedItems ?? [];
      const known = list.find((entry) => same(entry, item));
      if (known) {
        known.error = error;
        known.lastTried = now;
      } else if (list.length < MAX_FAILED_ITEMS) {
        list.push({ ...withoutUndefined(item), error, since: now, lastTried: now });
      }
      s.failedItems = list;
    });
  }

  /** Forgets an item once it synced (or a later change superseded it). */
  async clear(item: ItemKey): Promise<void> {
    if (!this.all.some((entry) => same(entry, item))) return;
    await this.state.update((s) => {
      s.failedItems = (s.failedItems ?? []).filter((entry) => !same(entry, item));
    });
  }

  due(now = Date.now()): FailedItem[] {
    return this.all.filter((entry) => now - Date.parse(entry.lastTried) >= FAILED_RETRY_MS);
  }
}

function withoutUndefined(item: ItemKey): ItemKey {
  return { repository: item.repository, ...(item.tag ? { tag: item.tag } : {}), ...(item.digest ? { digest: item.digest } : {}) };
}
