/**
 * What the management API shows about a repository beyond what the registry engine needs:
 * counts and update times. Kept apart from MetadataStore because only the cloud's management
 * API reads it (the edge agent never does), and because a tag's update time lives only in
 * the store's tag record.
 */
import type { Page } from "./interfaces.js";

export interface TagDetail {
  tag: string;
  digest: string;
  mediaType: string;
  size: number;
  /** When the tag was last pointed at a manifest. */
  updatedAt: string;
}

export interface RepositorySummary {
  tagCount: number;
  manifestCount: number;
  /** The latest tag move or manifest push; undefined for a repository with neither (deletions leave no time behind). */
  lastUpdate: string | undefined;
}

export interface RepositoryStatistics {
  summarize(repository: string): Promise<RepositorySummary>;
  /** Tags sorted ascending, after `page.after`, at most `page.limit`, each with what it points at. */
  listTagDetails(repository: string, page: Page): Promise<TagDetail[]>;
}
