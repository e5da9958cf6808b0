/**
 * The local Cosmos DB server keeps everything in memory. These two functions carry its
 * database across restarts of the local stack: save every container's documents to one
 * JSON file (written to a temporary name, then renamed, so a crash mid-write keeps the
 * previous snapshot), and load them back into a fresh server.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import type { CosmosClient } from "@azure/cosmos";

interface Snapshot {
  savedAt: string;
  containers: Array<{ id: string; partitionKeyPath: string; documents: Array<Record<string, unknown>> }>;
}

/** Fields the server assigns; a restored document gets fresh ones. */
const systemFields = ["_rid", "_self", "_etag", "_ts", "_attachments"];

export async function saveSnapshot(client: CosmosClient, databaseId: string, file: string): Promise<number> {
  const database = client.database(databaseId);
  const { resources: definitions } = await database.containers.readAll().fetchAll();
  const snapshot: Snapshot = { savedAt: new Date().toISOString(), containers: [] };
  let count = 0;
  for (const definition of definitions) {
    const { resources } = await database.container(definition.id).items.readAll<Record<string, unknown>>().fetchAll();
    const documents = resources.map((document) => {
      const copy = { ...document };
      for (const field of systemFields) delete copy[field];
      return copy;
    });
    count += documents.length;
    snapshot.containers.push({
      id: definition.id,
      partitionKeyPath: definition.partitionKey?.paths?.[0] ?? "/id",
      documents,
    });
  }
  await writeFile(`${file}.tmp`, JSON.stringify(snapshot));
  await rename(`${file}.tmp`, file);
  return count;
}

export async function restoreSnapshot(client: CosmosClient, databaseId: string, file: string): Promise<number> {
  let snapshot: Snapshot;
  try {
    snapshot = JSON.parse(await readFile(file, "utf8")) as Snapshot;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
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
