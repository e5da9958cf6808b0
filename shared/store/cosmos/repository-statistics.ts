/**
 * RepositoryStatistics on the artifacts container: queries within one repository's partition,
 * so none of them crosses partitions. Only COUNT, TOP and ORDER BY: the local Cosmos server
 * has no GROUP BY or MAX-with-filter guarantees worth relying on.
 */
import type { Container, SqlParameter } from "@azure/cosmos";
import type { Page } from "../interfaces.js";
import type { RepositoryStatistics, RepositorySummary, TagDetail } from "../repository-statistics.js";

export class CosmosRepositoryStatistics implements RepositoryStatistics {
  constructor(private readonly container: Container) {}

  async summarize(repository: string): Promise<RepositorySummary> {
    const [tagCount, manifestCount, lastTagged, lastPushed] = await Promise.all([
      this.count(repository, "tag"),
      this.count(repository, "manifest"),
      this.latest(repository, "tag", "updatedAt"),
      this.latest(repository, "manifest", "createdAt"),
    ]);
    const times = [lastTagged, lastPushed].filter((time): time is string => time !== undefined).sort();
    return { tagCount, manifestCount, lastUpdate: times.at(-1) };
  }

  async listTagDetails(repository: string, page: Page): Promise<TagDetail[]> {
    const { resources } = await this.container.items
      .query<TagDetail>({
        query:
          `SELECT TOP ${Math.floor(page.limit)} c.tag, c.digest, c.manifest.mediaType AS mediaType, c.manifest.size AS size, c.updatedAt ` +
          `FROM c WHERE c.repository = @repository AND c.type = "tag" AND c.tag > @after ORDER BY c.tag`,
        parameters: [
          { name: "@repository", value: repository },
          { name: "@after", value: page.after ?? "" },
        ],
      })
      .fetchAll();
    return resources.map(({ tag, digest, mediaType, size, updatedAt }) => ({ tag, digest, mediaType, size, updatedAt }));
  }

  private async count(repository: string, type: string): Promise<number> {
    const { resources } = await this.query<number>(`SELECT VALUE COUNT(1) FROM c WHERE c.repository = @repository AND c.type = @type`, [
      { name: "@repository", value: repository },
      { name: "@type", value: type },
    ]);
    return resources[0] ?? 0;
  }

  private async latest(repository: string, type: string, field: "updatedAt" | "createdAt"): Promise<string | undefined> {
    const { resources } = await this.query<Record<string, string>>(
      `SELECT TOP 1 c.${field} FROM c WHERE c.repository = @repository AND c.type = @type ORDER BY c.${field} DESC`,
      [
        { name: "@repository", value: repository },
        { name: "@type", value: type },
      ],
    );
    return resources[0]?.[field];
  }

  private query<T>(query: string, parameters: SqlParameter[]) {
    return this.container.items.query<T>({ query, parameters }).fetchAll();
  }
}
