/**
 * Read-change-write against a store that refuses stale writes (ConcurrentUpdateError):
 * run the attempt again, after a short random wait that grows, until it lands. Returns
 * undefined after `attempts` lost races; the caller says so in its own protocol.
 */
import { ConcurrentUpdateError } from "./interfaces.js";

export async function retryOnConflict<T>(attempts: number, attempt: () => Promise<T>): Promise<T | undefined> {
  for (let round = 0; round < attempts; round++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ConcurrentUpdateError)) throw error;
      // Racing writers spread out instead of colliding again at once.
      const ceilingMs = Math.min(5 * 2 ** Math.min(round, 4), 50);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceilingMs));
    }
  }
  return undefined;
}
