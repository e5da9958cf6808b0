/**
 * Reads the Cosmos DB snapshot that earlier versions of the local stack saved every 15
 * seconds (cosmos-snapshot.json: every container's documents in one JSON file), so a data
 * folder from then keeps its metadata. Newer stacks keep a journal instead (cosmos-journal.ts).
 */
import { readFile } from "node:fs/promises";
import type { CosmosClient } from "@azure/cosmos";

interface LegacySnapshot {
  savedAt: string;
  containers: Array<{ id: string; partitionKeyPath: string; documents: Array<Record<string, unknown>> }>;
}

/** Loads the snapshot's documents through the SDK; undefined when there is no such file. */
export async function restoreLegacySnapshot(client: CosmosClient, databaseId: string, file: string): Promise<number | undefined> {
  let snapshot: LegacySnapshot;
  try {
    snapshot = JSON.parse(await readFile(file, "utf8")) as LegacySnapshot;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read the Cosmos DB snapshot ${file}: ${(error as Error).message}`);
  }
  const { database } = await client.databases.createIfNotExists({ id: databaseId });
  let count = 0;
  for (const saved of snapshot.containers) {
    const { container } = await database.containers.createIfNotExists({ id: saved.id, partitionKey: { paths: [saved.partitionKeyPath] } });
    const documents = [...saved.documents];
    // A few writes in flight at a time: the server is local, so this is CPU-bound anyway.
    const workers = Array.from({ length: 8 }, async () => {
      for (let document = documents.pop(); document; document = documents.pop()) {
        await container.items.upsert(document);
        count++;
      }
    });
    await Promise.all(workers);
  }
  return count;
}
