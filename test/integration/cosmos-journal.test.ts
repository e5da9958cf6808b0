/**
 * The local Cosmos DB server's journal (scripts/cosmos-journal.ts) on the server package's
 * real model: what was changed comes back after a restart, a torn last write (a crash in
 * the middle of it, never acknowledged) is dropped, and damage anywhere else stops the start.
 */
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CosmosJournal, cosmosModelItemsClass, type CosmosAccount } from "../../dist/scripts/cosmos-journal.js";

const require = createRequire(import.meta.url);
const Account = (require("@vercel/cosmosdb-server/lib/account/index.js") as { default: new (host: string, port: number) => CosmosAccount }).default;
const folders: string[] = [];
afterAll(async () => Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true }))));

interface Model {
  databases: {
    create(data: object): void;
    _data: Map<string, { read(): { id: string }; collections: { create(data: object): void; _data: Map<string, { read(): { id: string }; documents: DocumentItems }> } }>;
  };
}
interface DocumentItems {
  create(data: object): void;
  upsert(data: object): void;
  delete(id: string, partition: string): void;
  _data: Map<string, { read(): Record<string, unknown> }>;
}

async function openAccount(folder: string, log: string[] = []): Promise<{ account: Model; journal: CosmosJournal }> {
  const account = new Account("127.0.0.1", 0);
  const journal = new CosmosJournal(account, { folder, log: (message) => log.push(message) });
  journal.attach(cosmosModelItemsClass());
  await journal.open();
  return { account: account as unknown as Model, journal };
}

function documentsOf(account: Model): DocumentItems {
  const database = [...account.databases._data.values()].find((item) => item.read().id === "registry")!;
  return [...database.collections._data.values()].find((item) => item.read().id === "artifacts")!.documents;
}

function contents(documents: DocumentItems): Array<Record<string, unknown>> {
  return [...documents._data.values()]
    .map((item) => {
      const { _rid, _self, _etag, _ts, ...fields } = item.read();
      return fields;
    })
    .sort((a, b) => String(a.id).localeCompare(String(b.id)));
}

async function newFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), "cosmos-journal-"));
  folders.push(folder);
  return folder;
}

/** Changes made, then the process "crashes": the journal is not closed (no compaction). */
async function writeAndCrash(folder: string): Promise<Array<Record<string, unknown>>> {
  const { account, journal } = await openAccount(folder);
  account.databases.create({ id: "registry" });
  const database = [...account.databases._data.values()][0]!;
  database.collections.create({ id: "artifacts", partitionKey: { paths: ["/repository"] } });
  const documents = documentsOf(account);
  documents.create({ id: "a", repository: "r1", value: 1 });
  documents.create({ id: "b", repository: "r1", value: 2 });
  documents.upsert({ id: "a", repository: "r1", value: 3 });
  documents.create({ id: "c", repository: "r2", value: 4 });
  documents.delete("b", "r1");
  await journal.whenDurable();
  return contents(documents);
}

describe("the local Cosmos DB server's journal", () => {
  it("brings back every change after a crash, in the order it was made", async () => {
    const folder = await newFolder();
    const before = await writeAndCrash(folder);
    expect(before).toEqual([
      { id: "a", repository: "r1", value: 3 },
      { id: "c", repository: "r2", value: 4 },
    ]);
    const { account, journal } = await openAccount(folder);
    expect(contents(documentsOf(account))).toEqual(before);
    // Opening compacted it into the snapshot: one fresh, empty journal is left.
    const journals = (await readdir(folder)).filter((name) => name.startsWith("journal-"));
    expect(journals).toHaveLength(1);
    expect(await readFile(join(folder, journals[0]!), "utf8")).toBe("");
    await journal.close();
  });

  it("journals an update as one line, so no torn write can replay the delete half of a replace", async () => {
    const folder = await newFolder();
    await writeAndCrash(folder);
    const journal = (await readdir(folder)).find((name) => name.startsWith("journal-"))!;
    const entries = (await readFile(join(folder, journal), "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line.slice(9)) as { op: string; data?: { id: string }; id?: string });
    // a created, b created, a replaced (one set), c created, b deleted: the only delete is b's.
    expect(entries.filter((entry) => entry.op === "delete").map((entry) => entry.id)).toEqual(["b"]);
    expect(entries.filter((entry) => entry.op === "set" && entry.data?.id === "a")).toHaveLength(2);
  });

  it("drops a torn last write, which was never acknowledged, and starts", async () => {
    const folder = await newFolder();
    const before = await writeAndCrash(folder);
    const journal = (await readdir(folder)).find((name) => name.startsWith("journal-"))!;
    await appendFile(join(folder, journal), '1234abcd {"op":"set","kind":"document","database":"registry","container":"artifacts","data":{"id":"d","repos');
    const log: string[] = [];
    const reopened = await openAccount(folder, log);
    expect(contents(documentsOf(reopened.account))).toEqual(before);
    expect(log.join("\n")).toContain("torn write");
    await reopened.journal.close();
  });

  it("refuses to start on a journal damaged before its end", async () => {
    const folder = await newFolder();
    await writeAndCrash(folder);
    const journal = join(folder, (await readdir(folder)).find((name) => name.startsWith("journal-"))!);
    const lines = (await readFile(journal, "utf8")).split("\n");
    const damaged = lines.findIndex((line) => line.includes('"value":2'));
    expect(damaged).toBeLessThan(lines.length - 2);
    lines[damaged] = lines[damaged]!.replace('"value":2', '"value":9');
    await writeFile(journal, lines.join("\n"));
    await expect(openAccount(folder)).rejects.toThrow(new RegExp(`line ${damaged + 1} is corrupt`));
  });
});
