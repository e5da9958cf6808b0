/**
 * Durability for the local stack's in-memory Cosmos DB server (`@vercel/cosmosdb-server`):
 * a write-ahead journal and a snapshot, so a write the server acknowledged survives any
 * stop of the stack, a SIGKILL or a power cut included.
 *
 * - Every change to a database, container or document is appended to the journal as one
 *   checksummed line, in the order the server applied it (recorded where the server's
 *   model changes, not where its responses leave, which may be in another order).
 * - No response leaves the server before every change made so far is on disk (fsync):
 *   see `whenDurable` and cosmos-server.ts. Changes are written in groups, one fsync for
 *   all the changes that arrived while the previous write was in flight.
 * - At start the snapshot is loaded and the journal replayed; then both are compacted into
 *   a new snapshot. A running server compacts too when its journal grows past a limit.
 *
 * Files, in the stack's `cosmos/` folder (owner-only: they hold password hashes):
 *   snapshot.json      the state up to journal generation `journal` (written temp + fsync + rename)
 *   journal-<n>.log    the changes after it; replayed in order of n
 *
 * This reaches into the server package's model classes (pinned to an exact version in
 * package.json): it has no hook of its own, and this is what makes its state durable.
 */
import { closeSync, fdatasync, fsyncSync, openSync, write } from "node:fs";
import { chmod, mkdir, open, readdir, readFile, rename, rm, type FileHandle } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { crc32 } from "node:zlib";

/** The parts of the server's model this module uses (lib/account/*.js). */
interface ModelItem {
  read(): Record<string, unknown> | undefined;
}
interface ModelItems {
  _parent: ModelItem;
  _data: Map<string, ModelItem & ModelChildren>;
  _item(keyPath: string, value: unknown, partition: unknown): ModelItem;
  _getPartition(data: Record<string, unknown>): unknown;
  _set(data: Record<string, unknown>): Record<string, unknown>;
  delete(idOrRid: unknown, partition?: unknown): void;
  replace(data: Record<string, unknown>, original: Record<string, unknown>): Record<string, unknown>;
  create(data: Record<string, unknown>): Record<string, unknown>;
}
interface ModelChildren {
  collections?: ModelItems;
  documents?: ModelItems;
}
export interface CosmosAccount {
  databases: ModelItems;
}

type Kind = "database" | "container" | "document";
/** One journal line: a resource set to `data`, or deleted. */
type JournalEntry =
  | { op: "set"; kind: Kind; database?: string; container?: string; data: Record<string, unknown> }
  | { op: "delete"; kind: Kind; database?: string; container?: string; id: unknown; partition: unknown };

interface Snapshot {
  format: "cosmos-local-snapshot/1";
  /** The first journal generation not contained in this snapshot. */
  journal: number;
  savedAt: string;
  databases: Array<{ data: Record<string, unknown>; containers: Array<{ data: Record<string, unknown>; documents: Array<Record<string, unknown>> }> }>;
}

/** Fields the server assigns; a replayed resource gets fresh ones. */
const SYSTEM_FIELDS = ["_rid", "_self", "_etag", "_ts", "_attachments", "_docs", "_sprocs", "_triggers", "_udfs", "_conflicts", "_colls", "_users"];
const COMPACT_AFTER_BYTES = 64 * 1024 * 1024;

export interface JournalOptions {
  folder: string;
  log?: (message: string) => void;
  /**
   * Off only to show what the journal prevents (a test does): changes are not written as
   * they happen, only in the snapshot at a clean stop, as before the journal existed.
   */
  disabled?: boolean;
  compactAfterBytes?: number;
}

export class CosmosJournal {
  private generation = 1;
  private fd = -1;
  private bytes = 0;
  private pending: string[] = [];
  private appended = 0;
  private durable = 0;
  private flushing: Promise<void> | undefined;
  private waiters: Array<{ upTo: number; resolve: () => void }> = [];
  /** Set while the journal itself rebuilds the model, so those changes are not journaled again. */
  private replaying = false;
  /** Depth of replace calls in progress: their inner delete is not a change of its own (see attach). */
  private replacing = 0;
  private failed: Error | undefined;
  private readonly log: (message: string) => void;
  private readonly containerNames = new WeakMap<ModelItems, { database: string; container: string }>();
  private readonly databaseNames = new WeakMap<ModelItems, string>();
  /** Fsyncs done, for the benchmark and the closing figures. */
  fsyncs = 0;

  constructor(
    private readonly account: CosmosAccount,
    private readonly options: JournalOptions,
  ) {
    this.log = options.log ?? (() => {});
  }

  /** Loads the snapshot and replays the journal into the (empty) account, compacts, and starts journaling. */
  async open(): Promise<{ documents: number; replayed: number; ms: number }> {
    const started = Date.now();
    await mkdir(this.options.folder, { recursive: true, mode: 0o700 });
    await chmod(this.options.folder, 0o700);
    const snapshot = await this.readSnapshot();
    this.replaying = true;
    let documents = 0;
    let replayed = 0;
    try {
      if (snapshot) documents = this.load(snapshot);
      for (const generation of await this.journalGenerations(snapshot?.journal ?? 1)) {
        replayed += await this.replayFile(generation);
        this.generation = Math.max(this.generation, generation);
      }
    } finally {
      this.replaying = false;
    }
    this.generation = Math.max(this.generation, snapshot?.journal ?? 1);
    // A fresh generation: everything so far goes into the new snapshot, older journals go.
    await this.compact();
    return { documents, replayed, ms: Date.now() - started };
  }

  /** Installs the hooks on the server's model classes; changes are journaled from then on. */
  attach(itemsClass: { prototype: ModelItems }): void {
    const journal = this;
    const originalSet = itemsClass.prototype._set;
    const originalDelete = itemsClass.prototype.delete;
    const originalReplace = itemsClass.prototype.replace;
    // The server replaces a resource by deleting it and setting it anew. Journaled as two
    // lines, a crash between them (a torn group write) would replay the delete alone and lose a
    // version acknowledged long ago; so a replace is one "set" line, which replay applies whole.
    itemsClass.prototype.replace = function (this: ModelItems, data: Record<string, unknown>, original: Record<string, unknown>) {
      journal.replacing++;
      try {
        return originalReplace.call(this, data, original);
      } finally {
        journal.replacing--;
      }
    };
    itemsClass.prototype._set = function (this: ModelItems, data: Record<string, unknown>) {
      const result = originalSet.call(this, data);
      journal.noteSet(this, result);
      return result;
    };
    itemsClass.prototype.delete = function (this: ModelItems, idOrRid: unknown, partition?: unknown) {
      const existing = this._item("/id", idOrRid, partition).read();
      originalDelete.call(this, idOrRid, partition);
      if (existing) journal.noteDelete(this, existing);
    };
  }

  /** Resolves once every change made before this call is on disk. */
  whenDurable(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const upTo = this.appended;
    if (this.durable >= upTo) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ upTo, resolve }));
  }

  /** Writes what is pending, compacts everything into a snapshot, and closes. */
  async close(): Promise<void> {
    await this.flushing;
    await this.compact();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private noteSet(items: ModelItems, data: Record<string, unknown>): void {
    const kind = this.kindOf(items);
    if (!kind) return;
    if (kind === "container") this.rememberContainer(items, data);
    if (kind === "database") this.rememberDatabase(items, data);
    if (this.replaying) return;
    this.append({ op: "set", ...this.placeOf(items, kind), data: stripSystemFields(data) });
  }

  private noteDelete(items: ModelItems, existing: Record<string, unknown>): void {
    const kind = this.kindOf(items);
    if (!kind || this.replaying || this.replacing > 0) return;
    this.append({ op: "delete", ...this.placeOf(items, kind), id: existing.id, partition: items._getPartition(existing) });
  }

  /** Which level of the model an Items collection is: its owner tells (account, database, container). */
  private kindOf(items: ModelItems): Kind | undefined {
    if (items === this.account.databases) return "database";
    if (this.databaseNames.has(items)) return "container";
    if (this.containerNames.has(items)) return "document";
    // Partition key ranges and user-defined functions are rebuilt by the server itself.
    return undefined;
  }

  private placeOf(items: ModelItems, kind: Kind): { kind: Kind; database?: string; container?: string } {
    if (kind === "database") return { kind };
    if (kind === "container") return { kind, database: this.databaseNames.get(items)! };
    return { kind, ...this.containerNames.get(items)! };
  }

  private rememberDatabase(databases: ModelItems, data: Record<string, unknown>): void {
    const database = databases._data.get(String(data._rid));
    if (database?.collections) this.databaseNames.set(database.collections, String(data.id));
  }

  private rememberContainer(collections: ModelItems, data: Record<string, unknown>): void {
    const container = collections._data.get(String(data._rid));
    const database = this.databaseNames.get(collections);
    if (container?.documents && database) this.containerNames.set(container.documents, { database, container: String(data.id) });
  }

  private append(entry: JournalEntry): void {
    if (this.options.disabled) return;
    const json = JSON.stringify(entry);
    const line = `${crc32(json).toString(16).padStart(8, "0")} ${json}\n`;
    this.pending.push(line);
    this.appended++;
    this.flushing ??= this.flush();
  }

  /**
   * Group commit: everything appended while the previous write was on its way goes out in
   * one write and one fsync. A failed write stops the server (fail-stop): a change that is
   * in memory but not on disk must never be acknowledged.
   */
  private async flush(): Promise<void> {
    try {
      // Let the changes of the current tick join this group.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.pending.length > 0) {
        const upTo = this.appended;
        const chunk = Buffer.from(this.pending.join(""));
        this.pending = [];
        const fd = this.fd;
        await writeAll(fd, chunk);
        await new Promise<void>((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
        this.fsyncs++;
        this.bytes += chunk.length;
        this.durable = upTo;
        this.waiters = this.waiters.filter((waiter) => {
          if (waiter.upTo > this.durable) return true;
          waiter.resolve();
          return false;
        });
        if (this.bytes > (this.options.compactAfterBytes ?? COMPACT_AFTER_BYTES) && this.pending.length === 0) await this.compact();
      }
    } catch (error) {
      this.failed = error as Error;
      this.log(`cosmos journal: cannot write ${this.journalPath(this.generation)}: ${(error as Error).message}; stopping, nothing unwritten was acknowledged`);
      process.exit(70);
    } finally {
      this.flushing = undefined;
    }
  }

  /**
   * Starts a new journal generation and writes the whole state as the snapshot that
   * precedes it. The state is read and the new journal opened in one synchronous step, so
   * every change lands either in the snapshot or in the new journal. A crash before the
   * rename leaves the old snapshot and both journals, which replay to the same state.
   */
  private async compact(): Promise<void> {
    const next = this.generation + 1;
    const fd = openSync(this.journalPath(next), "a", 0o600);
    const snapshot: Snapshot = { format: "cosmos-local-snapshot/1", journal: next, savedAt: new Date().toISOString(), databases: this.dump() };
    const previousFd = this.fd;
    this.fd = fd;
    this.generation = next;
    this.bytes = 0;
    if (previousFd >= 0) closeSync(previousFd);
    const file = join(this.options.folder, "snapshot.json");
    const temp = `${file}.tmp`;
    const handle = await open(temp, "w", 0o600);
    try {
      await handle.writeFile(JSON.stringify(snapshot));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    syncFolder(this.options.folder);
    this.fsyncs += 2;
    for (const generation of await this.journalGenerations(0)) {
      if (generation < next) await rm(this.journalPath(generation), { force: true });
    }
  }

  private dump(): Snapshot["databases"] {
    return [...this.account.databases._data.values()].map((database) => ({
      data: stripSystemFields(database.read() ?? {}),
      containers: [...(database.collections?._data.values() ?? [])].map((container) => ({
        data: stripSystemFields(container.read() ?? {}),
        documents: [...(container.documents?._data.values() ?? [])].map((document) => stripSystemFields(document.read() ?? {})),
      })),
    }));
  }

  private load(snapshot: Snapshot): number {
    let documents = 0;
    for (const database of snapshot.databases) {
      this.account.databases.create(database.data);
      const collections = this.containersOf(String(database.data.id));
      for (const container of database.containers) {
        collections.create(container.data);
        const items = this.documentsOf(String(database.data.id), String(container.data.id));
        for (const document of container.documents) items.create(document);
        documents += container.documents.length;
      }
    }
    return documents;
  }

  private apply(entry: JournalEntry): void {
    const items =
      entry.kind === "database" ? this.account.databases : entry.kind === "container" ? this.containersOf(entry.database!) : this.documentsOf(entry.database!, entry.container!);
    if (entry.op === "set") {
      const partition = items._getPartition(entry.data);
      const existing = items._item("/id", entry.data.id, partition).read();
      if (existing) items.delete(entry.data.id, partition);
      items.create(entry.data);
    } else if (items._item("/id", entry.id, entry.partition).read()) {
      items.delete(entry.id, entry.partition);
    }
  }

  private containersOf(database: string): ModelItems {
    const found = [...this.account.databases._data.values()].find((item) => item.read()?.id === database);
    if (!found?.collections) throw new Error(`cosmos journal: database ${database} is missing`);
    return found.collections;
  }

  private documentsOf(database: string, container: string): ModelItems {
    const found = [...this.containersOf(database)._data.values()].find((item) => item.read()?.id === container);
    if (!found?.documents) throw new Error(`cosmos journal: container ${database}/${container} is missing`);
    return found.documents;
  }

  private async replayFile(generation: number): Promise<number> {
    const path = this.journalPath(generation);
    const text = await readFile(path, "utf8");
    const lines = text.split("\n");
    let count = 0;
    let offset = 0;
    for (let index = 0; index < lines.length; index++) {
      const line = lines[index]!;
      const complete = index < lines.length - 1;
      if (!complete && line === "") break;
      const entry = complete ? parseLine(line) : undefined;
      if (!entry) {
        // Only the very end of the last journal may be torn (a crash during its write):
        // such a change was never acknowledged, since the answer waits for the fsync.
        if (index >= lines.length - 2) {
          this.log(`cosmos journal: ${path} ends in a torn write (${Buffer.byteLength(line)} bytes) that was never acknowledged; dropped`);
          await truncateFile(path, offset);
          break;
        }
        throw new Error(`cosmos journal: ${path} line ${index + 1} is corrupt (checksum or JSON); refusing to start on a damaged journal`);
      }
      this.apply(entry);
      count++;
      offset += Buffer.byteLength(line) + 1;
    }
    return count;
  }

  private async readSnapshot(): Promise<Snapshot | undefined> {
    try {
      const parsed = JSON.parse(await readFile(join(this.options.folder, "snapshot.json"), "utf8")) as Snapshot;
      if (parsed.format !== "cosmos-local-snapshot/1") throw new Error(`unknown format ${String(parsed.format)}`);
      return parsed;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new Error(`cosmos journal: cannot read ${join(this.options.folder, "snapshot.json")}: ${(error as Error).message}`);
    }
  }

  private async journalGenerations(from: number): Promise<number[]> {
    const names = await readdir(this.options.folder);
    return names
      .map((name) => /^journal-(\d+)\.log$/.exec(name)?.[1])
      .filter((value): value is string => value !== undefined)
      .map(Number)
      .filter((generation) => generation >= from)
      .sort((a, b) => a - b);
  }

  private journalPath(generation: number): string {
    return join(this.options.folder, `journal-${generation}.log`);
  }
}

/** fs.write may write less than asked; the journal's lines must go out whole. */
async function writeAll(fd: number, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length; ) {
    offset += await new Promise<number>((resolve, reject) =>
      write(fd, chunk, offset, chunk.length - offset, null, (error, written) => (error ? reject(error) : resolve(written))),
    );
  }
}

function parseLine(line: string): JournalEntry | undefined {
  const json = line.slice(9);
  if (line[8] !== " " || crc32(json).toString(16).padStart(8, "0") !== line.slice(0, 8)) return undefined;
  try {
    return JSON.parse(json) as JournalEntry;
  } catch {
    return undefined;
  }
}

function stripSystemFields(data: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...data };
  for (const field of SYSTEM_FIELDS) delete copy[field];
  return copy;
}

async function truncateFile(path: string, length: number): Promise<void> {
  const handle: FileHandle = await open(path, "r+");
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A rename is durable once its folder is fsynced. */
function syncFolder(folder: string): void {
  const fd = openSync(folder, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The server package's Items base class, whose methods every change goes through. */
export function cosmosModelItemsClass(): { prototype: ModelItems } {
  const require = createRequire(import.meta.url);
  return (require("@vercel/cosmosdb-server/lib/account/items.js") as { default: { prototype: ModelItems } }).default;
}
