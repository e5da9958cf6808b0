/**
 * Platform manifests the filter leaves out, of an index just served through a miss and not
 * stored yet (pull-through.ts stores it a moment later). A client that got such an index asks
 * for its platform's manifest at once, before the stored index could explain the miss
 * (sync/filters.ts explainMissing): this remembers, for that moment, which children of the
 * served index are filtered out and why, so they are refused as they would be a second later,
 * never pulled through.
 */
import type { HandlerResponse } from "../../../shared/http/types.js";
import type { Platform } from "../../../shared/domain/connected-registry/index.js";
import { referencedContent } from "../sync/content-fetcher.js";

/** Why a child of a served index is filtered out here, undefined when the filter keeps it. */
export type ExplainChild = (repository: string, index: string, child: { digest: string; platform?: Platform }) => string | undefined;

/** Longer than a served index waits to be stored (pull-through.ts STORE_AFTER_MS plus its blobs). */
const REMEMBER_MS = 60_000;

export class ServedPlatforms {
  private readonly excluded = new Map<string, { reason: string; until: number }>();

  constructor(private readonly explain: ExplainChild) {}

  /** Notes the filtered-out children of a manifest just served (a 200 GET with its bytes). */
  note(repository: string, response: HandlerResponse): void {
    const mediaType = response.headers?.["Content-Type"];
    const digest = response.headers?.["Docker-Content-Digest"];
    if (response.status !== 200 || !(response.body instanceof Uint8Array) || !mediaType || !digest) return;
    const now = Date.now();
    for (const [key, entry] of this.excluded) if (entry.until < now) this.excluded.delete(key);
    for (const child of referencedContent(response.body, mediaType).manifests) {
      const reason = this.explain(repository, digest, child);
      if (reason) this.excluded.set(`${repository} ${child.digest}`, { reason, until: now + REMEMBER_MS });
    }
  }

  /** Why `reference` is filtered out, if it is a child noted above. */
  reason(repository: string, reference: string): string | undefined {
    const entry = this.excluded.get(`${repository} ${reference}`);
    return entry && entry.until >= Date.now() ? entry.reason : undefined;
  }
}
