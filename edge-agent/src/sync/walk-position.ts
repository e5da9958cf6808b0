/**
 * How far a walk got, kept in the state file so a walk stopped by the sync window closing
 * (or by a crash) resumes instead of starting over: the repositories a full sync finished,
 * and the tags the walk of one repository (a full sync's, or one new in scope) applied.
 *
 * Skipping them is safe only while the feed will still bring what changed since: a full
 * sync continues the feed from `fullSyncFrom`, taken before it began. So a position counts
 * only for the same basis: that cursor for a full sync, the request id for an operator's
 * resync walk, "feed" for other walks once the feed runs. A new full sync (cursor expired)
 * or a new resync request does not match an old position, which is then ignored.
 */
import type { EdgeState, StateFile } from "../state.js";

function basisOf(state: Readonly<EdgeState>): string {
  if (!state.cursor) return `full:${state.fullSyncFrom ?? ""}`;
  const resync = state.configuration?.resync;
  return resync && resync !== state.lastResync ? `resync:${resync}` : "feed";
}

export class WalkPosition {
  constructor(private readonly state: StateFile) {}

  /** Repositories this full sync (or resync walk) already finished. */
  walkedRepositories(): Set<string> {
    const walked = this.state.state.fullSyncWalked;
    return new Set(walked?.basis === basisOf(this.state.state) ? walked.repositories : []);
  }

  /**
   * Written within a second (StateFile.touch), like tagDone; the write that ends the full sync
   * or resync comes right after and carries it. A crash in between walks the repository again,
   * finding every tag here (one manifest GET each).
   */
  repositoryWalked(repository: string): void {
    this.state.touch((s) => {
      const basis = basisOf(s);
      if (s.fullSyncWalked?.basis !== basis) s.fullSyncWalked = { basis, repositories: [] };
      s.fullSyncWalked.repositories.push(repository);
    });
  }

  /** The tags an unfinished walk of this repository applied (none when it was another repository's, or another basis). */
  resume(repository: string): Set<string> {
    const position = this.state.state.walkPosition;
    return new Set(position?.repository === repository && position.basis === basisOf(this.state.state) ? position.tagsDone : []);
  }

  /** Written within a second (StateFile.touch): a crash forgets at most the last second, and those tags cost one manifest GET each. */
  tagDone(repository: string, tag: string): void {
    this.state.touch((s) => {
      const basis = basisOf(s);
      if (s.walkPosition?.repository !== repository || s.walkPosition.basis !== basis) s.walkPosition = { repository, basis, tagsDone: [] };
      s.walkPosition.tagsDone.push(tag);
    });
  }

  /** Written within a second too: a crash before that resumes a walk with nothing left to do. */
  repositoryFinished(repository: string): void {
    if (this.state.state.walkPosition?.repository !== repository) return;
    this.state.touch((s) => {
      delete s.walkPosition;
    });
  }

}
