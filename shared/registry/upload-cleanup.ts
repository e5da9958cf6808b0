/** Drops upload sessions that clients abandoned, with the bytes they staged. */
import type { BlobStore, MetadataStore } from "../store/interfaces.js";

/** A session untouched for this long is abandoned: no client keeps an upload open a day. */
export const STALE_UPLOAD_MS = 24 * 60 * 60 * 1000;
/** Bounded per run; the next run takes the rest. */
const SESSIONS_PER_RUN = 200;

export async function purgeStaleUploads(metadata: MetadataStore, blobs: BlobStore, now: Date, log: (message: string) => void): Promise<number> {
  const stale = await metadata.listStaleUploads(new Date(now.getTime() - STALE_UPLOAD_MS), SESSIONS_PER_RUN);
  for (const session of stale) {
    // Bytes first: a crash in between leaves a session whose retry finds nothing to drop.
    await blobs.discardUpload(session.id);
    await metadata.deleteUpload(session.repository, session.id);
  }
  log(`purge-stale-uploads: removed ${stale.length} abandoned upload session(s)`);
  return stale.length;
}
