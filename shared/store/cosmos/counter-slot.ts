/**
 * A limit that holds under concurrent creates without transactions (the local Cosmos server
 * does not make batches atomic): a create first takes a slot on a counter document with a
 * conditional patch ("increment if count < limit", atomic on the server), then writes its
 * document, and gives the slot back if that write fails. A crash between the two leaves the
 * counter one too high, never too low: the limit can only err on the safe side.
 */
import type { Item, PatchRequestBody } from "@azure/cosmos";
import { cosmosStatus } from "./status.js";

/**
 * Increments the counter unless it has reached `limit`; false when it has. A counter that
 * does not exist yet is made by `createCounter` (which must ignore a 409) and tried again.
 */
export async function takeCounterSlot(counter: Item, limit: number, createCounter: () => Promise<void>): Promise<boolean> {
  const body: PatchRequestBody = { condition: `from c where c.count < ${Math.floor(limit)}`, operations: [{ op: "incr", path: "/count", value: 1 }] };
  for (let attempt = 0; ; attempt++) {
    try {
      await counter.patch(body);
      return true;
    } catch (error) {
      if (cosmosStatus(error) === 404 && attempt === 0) {
        await createCounter();
        continue;
      }
      if (cosmosStatus(error) === 412) return false;
      throw error;
    }
  }
}

export async function releaseCounterSlot(counter: Item): Promise<void> {
  await counter.patch([{ op: "incr", path: "/count", value: -1 }]);
}
