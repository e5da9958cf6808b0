/**
 * The files under a folder that this process holds open (Linux /proc/self/fd): a test of a store
 * expects none once its calls are done, so a FileHandle left for the garbage collector (the
 * "Closing file descriptor N on garbage collection" warning, an agent's slow EMFILE) fails it.
 */
import { readdirSync, readlinkSync } from "node:fs";
import { open } from "node:fs/promises";

export function openFilesUnder(folder: string): string[] {
  const targets: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      targets.push(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // Closed since the listing (readdirSync's own descriptor among them).
    }
  }
  return targets.filter((target) => target.startsWith(`${folder}/`));
}

/**
 * Makes every FileHandle's `method` reject with `code` (as a failing volume does) until the
 * returned function restores it. `probe` is any file that can be opened, to reach the class.
 */
export async function failFileHandles(probe: string, method: "stat" | "write", code: string): Promise<() => void> {
  const handle = await open(probe, "r");
  const prototype = Object.getPrototypeOf(handle) as Record<string, unknown>;
  await handle.close();
  const original = prototype[method];
  prototype[method] = () => Promise.reject(Object.assign(new Error(`${code}: injected by the test, ${method}`), { code }));
  return () => {
    prototype[method] = original;
  };
}
