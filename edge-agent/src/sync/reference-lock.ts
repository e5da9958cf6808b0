/**
 * One writer at a time per tag (or manifest digest) of a repository, across every applier of
 * one local registry: the sync's and the pull-through's. Without it a pull-through could read
 * the parent's answer for a tag, the sync could then move or delete that tag, and the
 * pull-through would write its older answer over the sync's newer one (the edge diverging from
 * its parent for good, since the feed has moved on). With it, whichever writes second read the
 * parent (or checked the local tag) after the first had written.
 */
import type { RegistryContext } from "../../../shared/registry/context.js";

type Locks = Map<string, Promise<void>>;

// Keyed by the registry object both appliers share (agent.ts), so no wiring is needed.
const byRegistry = new WeakMap<RegistryContext, Locks>();

/** Runs `work` once no other holder of (repository, reference) in this registry is running. */
export async function withReferenceLock<T>(registry: RegistryContext, repository: string, reference: string, work: () => Promise<T>): Promise<T> {
  let locks = byRegistry.get(registry);
  if (!locks) byRegistry.set(registry, (locks = new Map()));
  const key = `${repository} ${reference}`;
  const before = locks.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = before.then(() => mine);
  locks.set(key, tail);
  await before;
  try {
    return await work();
  } finally {
    release();
    // The last holder leaves no entry behind.
    if (locks.get(key) === tail) locks.delete(key);
  }
}
