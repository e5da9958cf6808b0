/**
 * How far the running sync is, for the status report (docs/sync-protocol.md, section 6):
 * objects (tags, manifests, feed entries) and bytes, done and known so far. A sync lists its
 * work as it goes (a full sync learns a repository's tags when it reaches it, an image's blob
 * sizes when it reads its manifest), so the totals grow while it runs.
 */
import type { SyncProgressReport } from "../../../shared/domain/connected-registry/index.js";

export class RunProgress {
  private objectsDone = 0;
  private objectsTotal = 0;
  private bytesDone = 0;
  private bytesTotal = 0;

  /** A new sync run: counting starts again. */
  begin(): void {
    this.objectsDone = this.objectsTotal = this.bytesDone = this.bytesTotal = 0;
  }

  objectsListed(count: number): void {
    this.objectsTotal += count;
  }

  objectDone(): void {
    this.objectsDone++;
  }

  /** A download starts: its size, when the manifest gave it. */
  downloadPlanned(size: number | undefined): void {
    if (size !== undefined) this.bytesTotal += size;
  }

  bytesArrived(count: number): void {
    this.bytesDone += count;
  }

  report(phase: SyncProgressReport["phase"]): SyncProgressReport {
    return {
      phase,
      objectsDone: this.objectsDone,
      objectsTotal: Math.max(this.objectsTotal, this.objectsDone),
      bytesDone: this.bytesDone,
      // A resumed or unsized download can bring more than was announced.
      bytesTotal: Math.max(this.bytesTotal, this.bytesDone),
    };
  }
}
