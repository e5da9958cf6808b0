/**
 * `connected-registry status --wait SECONDS`: waits until the agent working in the data
 * folder has finished its first full sync (what a script needs before the first pull), or
 * the time is up; answers the last state read (undefined if the agent never wrote one).
 */
import { readState, type EdgeState } from "./state.js";

const POLL_MS = 500;

export async function waitForFirstSync(dataDir: string, seconds: number): Promise<EdgeState | undefined> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const state = await readState(dataDir).catch(() => undefined);
    if ((state && state.cursor) || Date.now() >= deadline) return state;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
