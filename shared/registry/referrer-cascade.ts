/**
 * Deleting a manifest deletes its referrers (signatures, SBOMs, attestations: manifests whose
 * `subject` is it), and theirs, as ACR does: a signature of an image that is gone signs
 * nothing, and an edge learns of each removal from its own change-log entry, so every level
 * of a hierarchy answers the referrers API as this registry does without waiting for a
 * garbage collection. Deepest first, the subject last: a delete that fails half-way leaves
 * the subject in place, and the client's retry finishes the job. Each referrer removed raises
 * its own ImageDeleted event (queued before the delete is answered, as the subject's is).
 */
import { deleteEvent } from "../events/registry-events.js";
import type { HandlerRequest } from "../http/types.js";
import type { RegistryContext } from "./context.js";

/** A signature of an SBOM of an attestation...: deeper than this is a loop or abuse, not a supply chain. */
const MAX_DEPTH = 8;

export async function deleteReferrersOf(ctx: RegistryContext, repository: string, subject: string, source: { source?: string }, request?: HandlerRequest, depth = 0): Promise<void> {
  if (depth >= MAX_DEPTH) return;
  for (const referrer of await ctx.metadata.listReferrers(repository, subject)) {
    if (referrer.digest === subject) continue;
    await deleteReferrersOf(ctx, repository, referrer.digest, source, request, depth + 1);
    const deleted = await ctx.changes.record({ repository, kind: "manifest.delete", digest: referrer.digest, ...source }, () => ctx.metadata.deleteManifest(repository, referrer.digest));
    if (deleted) await ctx.events?.emit(deleteEvent(repository, referrer, undefined, request));
  }
}
