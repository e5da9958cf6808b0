/**
 * Headers as node:http parsed them, read the way WHATWG Headers answer `get`: by a
 * case-insensitive name, a repeated header's values joined with ", ", null when absent.
 *
 * Why not WHATWG Headers: the first `new Headers()` in a process loads Node's internal fetch
 * implementation (undici, ~30 ms of compiling on the event loop), which the edge agent paid
 * at its first request in and at the first answer from its parent, in the middle of
 * activating; and every Headers copies and validates each name and value again.
 */
import type { HeaderReader } from "./types.js";

export class NodeHeaders implements HeaderReader {
  /** `source`: node's `headers` (some repeats dropped by node) or `headersDistinct` (every value); names lower-case. */
  constructor(private readonly source: Readonly<Record<string, string | string[] | undefined>>) {}

  get(name: string): string | null {
    const value = this.source[name.toLowerCase()];
    if (value === undefined) return null;
    return typeof value === "string" ? value : value.join(", ");
  }
}
