/**
 * BlobStore on the local file system, for the edge agent. Under the root folder:
 *   blobs/<alg>/<hex>           content, addressed by digest
 *   staging/<target>/<blockId>  blocks staged by `stage`, invisible until `commit`
 *   uploads/<id>/data           a committed upload, until it is promoted or discarded
 *   partial/<hex>               a download from the parent in progress (resumable)
 * Nothing reaches a content address except by rename of a complete, fsynced file, so a
 * crash never leaves a partial file where a reader would trust it.
 *
 * Semantics follow shared/store/azure-blob/blob-store.ts: each `stage` call stages one
 * block under an id unique to that writer, and `commit` makes exactly the listed blocks,
 * in order, the target's content.
 */
import { createHash, randomBytes, type Hash } from "node:crypto";
import { open, readdir, rename, rm, rmdir, stat, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parseDigest, type DigestAlgorithm } from "../../../shared/domain/digest.js";
import type { BlobStore, ByteRange, StagingTarget } from "../../../shared/store/interfaces.js";
import { errorCode, fsyncDirectory, isNotFound, readdirOrEmpty, readJsonFile, tempPathFor, writeFileAtomic } from "./atomic-file.js";
import { makeDirectory } from "./data-folder-guard.js";
import { FileDigests } from "./file-digests.js";
import { KeyedLock } from "./keyed-lock.js";
import { FileBody } from "../../../shared/http/file-body.js";
import type { BufferReader } from "../../../shared/remote/http-client.js";

/** Read buffer for streaming blobs out: large reads keep throughput up on big layers. */
const READ_CHUNK_BYTES = 1024 * 1024;
/** Incoming network chunks are small; they are gathered into writes of about this size. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/**
 * Buffers of WRITE_BATCH_BYTES for downloads read into buffers (writeAllFrom), two per download,
 * reused from one download to the next: a fresh MiB per blob would be fresh memory to fault in
 * each time, which is what reading into our own buffers saves. They are cut from one slab, so
 * that malloc on huge pages (GLIBC_TUNABLES, docs/edge-install.md) backs them with a few 2 MiB
 * pages: in a micro-test, 211 page faults for 12 MiB of a slab against 3,148 for 12 buffers of
 * their own. 16 cover the default 6 parallel downloads and then some; a download beyond them
 * gets buffers of its own.
 */
const WRITE_BUFFER_SLAB = 16;
/** How long `totalBytes` trusts its last walk of blobs/ (it is only for status output). */
const TOTAL_BYTES_CACHE_MS = 10_000;

const blockIdPattern = /^[0-9a-f]{18}-\d{8}$/;
const uploadIdPattern = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** A downloaded or staged blob whose bytes do not hash to the digest it was fetched under. */
export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`content hashes to ${actual}, not ${expected}`);
    this.name = "DigestMismatchError";
  }
}

export class FsBlobStore implements BlobStore {
  /** Serializes appends to (and completion of) one partial download. */
  private readonly partialLocks = new KeyedLock();
  /**
   * One writer per partial download, across its whole append..complete sequence: the sync's
   * fetcher, the pull-through's fetcher and the pull-through stream share this store, and a
   * second writer's append between the first one's append and complete doubled the file.
   */
  private readonly partialWriters = new KeyedLock();
  /** Serializes commits of one target, so a retry cannot race the first attempt. */
  private readonly commitLocks = new KeyedLock();
  private totalCache: { bytes: number; at: number } | undefined;
  private readonly digests = new FileDigests();
  /** Partial downloads fsynced by a failed append and not written since (completing them needs no second fsync). */
  private readonly syncedPartials = new Set<string>();
  /**
   * Partial downloads this process wrote from their first byte, with the hash of every byte it
   * wrote (fed as each batch went out): completing one needs no second pass over the file.
   * A partial left by an earlier run, or one whose write failed midway, is not here and is
   * hashed from the disk (file-digests.ts).
   */
  private readonly hashedPartials = new Map<string, { hash: Hash; bytes: number }>();
  /** Write buffers between downloads (writeAllFrom): made at the first download read into buffers. */
  private writeBuffers: Buffer[] | undefined;

  constructor(private readonly root: string) {}

  async stat(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.contentPath(digest))).size;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array>> {
    // Opened here, not lazily by the stream, so a missing blob fails this call (like the cloud's 404).
    const handle = await open(this.contentPath(digest), "r");
    return new FileBody(handle, range);
  }

  async readUrl(_digest: string): Promise<string | undefined> {
    // The edge has no storage service to hand clients off to: the engine streams.
    return undefined;
  }

  async writeContent(digest: string, content: Uint8Array): Promise<void> {
    await writeFileAtomic(this.contentPath(digest), content);
    this.totalCache = undefined;
  }

  async delete(digest: string): Promise<void> {
    await rm(this.contentPath(digest), { force: true });
    this.totalCache = undefined;
  }

  async stage(target: StagingTarget, body: AsyncIterable<Uint8Array>): Promise<{ bytes: number; blockIds: string[] }> {
    // One block per call, under a prefix of this writer's own: two writers of one target
    // (or a failed one) never touch each other's files. On a local disk there is no reason
    // to cut a request into several blocks, and one block lets `commit` be a rename.
    const blockId = `${randomBytes(9).toString("hex")}-00000000`;
    const path = join(this.stagingDir(target), blockId);
    await makeDirectory(dirname(path));
    const handle = await open(path, "wx");
    let bytes = 0;
    try {
      bytes = await writeAll(handle, body);
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(path, { force: true });
      throw error;
    }
    await handle.close();
    if (bytes === 0) {
      // As in the cloud, an empty body stages nothing; committing [] makes empty content.
      await rm(path, { force: true });
      return { bytes: 0, blockIds: [] };
    }
    return { bytes, blockIds: [blockId] };
  }

  async commit(target: StagingTarget, blockIds: string[]): Promise<void> {
    for (const id of blockIds) if (!blockIdPattern.test(id)) throw new Error(`not a block id of this store: ${id}`);
    const key = target.kind === "upload" ? `upload:${target.id}` : `content:${target.digest}`;
    await this.commitLocks.run(key, async () => {
      const destination = target.kind === "upload" ? this.uploadDataPath(target.id) : this.contentPath(target.digest);
      let sources = blockIds.map((id) => join(this.stagingDir(target), id));
      let alreadyCommitted: string[] = [];
      if (target.kind === "upload") {
        // Like a block blob, a committed upload may be committed again with blocks added
        // after its committed ones (a client retrying the final PUT): the committed data
        // stands in for those blocks, which were consumed by the first commit.
        alreadyCommitted = (await readJsonFile<string[]>(this.uploadCommittedPath(target.id))) ?? [];
        if (alreadyCommitted.length > 0 && startsWith(blockIds, alreadyCommitted)) {
          if (blockIds.length === alreadyCommitted.length) return;
          sources = [destination, ...sources.slice(alreadyCommitted.length)];
        }
      }
      await this.assemble(sources, destination);
      if (target.kind === "upload") await writeFileAtomic(this.uploadCommittedPath(target.id), JSON.stringify(blockIds));
      else this.totalCache = undefined;
      await removeIfEmpty(this.stagingDir(target));
    });
  }

  async readUpload(uploadId: string): Promise<AsyncIterable<Uint8Array>> {
    const handle = await open(this.uploadDataPath(uploadId), "r");
    return handle.createReadStream({ highWaterMark: READ_CHUNK_BYTES });
  }

  async promoteUpload(uploadId: string, digest: string): Promise<void> {
    const destination = this.contentPath(digest);
    if ((await this.stat(digest)) === undefined) {
      // The data was fsynced when it was committed; a rename moves it without a copy.
      await makeDirectory(dirname(destination));
      await rename(this.uploadDataPath(uploadId), destination);
      await fsyncDirectory(dirname(destination));
      this.totalCache = undefined;
    }
    // Content already there: same digest, same bytes, so the upload's copy is just dropped.
    await this.discardUpload(uploadId);
  }

  async discardUpload(uploadId: string): Promise<void> {
    await rm(this.uploadDir(uploadId), { recursive: true, force: true });
    await rm(this.stagingDir({ kind: "upload", id: uploadId }), { recursive: true, force: true });
  }

  /**
   * Removes staged blocks older than `before`: blocks of writers that failed or whose
   * digest was wrong (the cloud's storage drops uncommitted blocks by itself). Returns
   * how many files went.
   */
  async purgeStaging(before: Date): Promise<number> {
    const stagingRoot = join(this.root, "staging");
    let removed = 0;
    for (const target of await readdirOrEmpty(stagingRoot)) {
      const directory = join(stagingRoot, target);
      for (const name of await readdirOrEmpty(directory)) {
        const path = join(directory, name);
        try {
          if ((await stat(path)).mtimeMs < before.getTime()) {
            await rm(path, { force: true });
            removed++;
          }
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }
      await removeIfEmpty(directory);
    }
    return removed;
  }

  // --- resumable downloads (the sync engine) ---

  /**
   * Runs `work` as the only writer of the digest's partial download (appends, completion),
   * after any writer before it is done; `waited` says whether there was one (the blob may be
   * stored now).
   */
  async writingPartial<T>(digest: string, work: (waited: boolean) => Promise<T>): Promise<T> {
    const waited = this.partialWriters.held(digest);
    return this.partialWriters.run(digest, () => work(waited));
  }

  /** The digest's writer slot at once (call the release when done), or undefined while another writer has it. */
  tryWritingPartial(digest: string): (() => void) | undefined {
    return this.partialWriters.tryAcquire(digest);
  }

  /** Bytes of `digest` already downloaded into partial/, 0 when none. */
  async partialSize(digest: string): Promise<number> {
    try {
      return (await stat(this.partialPath(digest))).size;
    } catch (error) {
      if (isNotFound(error)) return 0;
      throw error;
    }
  }

  /**
   * Appends the body to the partial download and returns its new size. Whatever arrived
   * before a failure is flushed and fsynced too, so a resume continues after it. A body that
   * ends normally is not fsynced here: `completePartial`, which comes next, does it, and the
   * caller may run it after handing its download slot to the next download (the disk flushes
   * one blob while the next one arrives). A crash before then loses nothing that matters: a
   * partial file is verified against its digest before it is used.
   */
  async appendPartial(digest: string, body: AsyncIterable<Uint8Array> | BufferReader): Promise<number> {
    const path = this.partialPath(digest);
    return this.partialLocks.run(digest, async () => {
      const handle = await open(path, "a").catch(async (error: unknown) => {
        // partial/ is made on the first download only: one call fewer per blob after that.
        if (!isNotFound(error)) throw error;
        await makeDirectory(dirname(path));
        return open(path, "a");
      });
      this.syncedPartials.delete(digest);
      // Hashing the bytes as they are written costs a third of reading them back afterwards
      // (no second read, no worker); it needs every byte of the file to have gone through here.
      let start: number;
      try {
        start = (await handle.stat()).size;
      } catch (error) {
        // Nothing written yet: only the descriptor to give back (a download retried on a failing volume).
        await handle.close().catch(() => undefined);
        throw error;
      }
      let hashed = this.hashedPartials.get(digest);
      this.hashedPartials.delete(digest);
      if (hashed?.bytes !== start) hashed = start === 0 ? { hash: createHash(requireDigest(digest).algorithm), bytes: 0 } : undefined;
      let written = 0;
      try {
        written = "readInto" in body ? await writeAllFrom(handle, body, (this.writeBuffers ??= slabOfWriteBuffers()), hashed) : await writeAll(handle, body, hashed);
      } catch (error) {
        // Some bytes may be written and not hashed: the file is hashed from the disk instead.
        hashed = undefined;
        try {
          // fdatasync flushes the whole file, bytes a crashed run appended included.
          await handle.datasync();
          this.syncedPartials.add(digest);
        } finally {
          await handle.close();
        }
        throw error;
      }
      await handle.close();
      if (hashed) this.hashedPartials.set(digest, hashed);
      return start + written;
    });
  }

  /**
   * Verifies the whole partial download against its digest and moves it to its content
   * address. A wrong one is deleted (resuming it could never succeed) and reported.
   */
  async completePartial(digest: string): Promise<void> {
    const { algorithm } = requireDigest(digest);
    const path = this.partialPath(digest);
    await this.partialLocks.run(digest, async () => {
      // Hashed as it was written when this process wrote all of it; otherwise off the event
      // loop's thread (file-digests.ts), from the file as it is on disk.
      const hashed = this.hashedPartials.get(digest);
      this.hashedPartials.delete(digest);
      const actual = hashed ? `${algorithm}:${hashed.hash.digest("hex")}` : await this.digests.digest(path, algorithm);
      if (actual !== digest) {
        this.syncedPartials.delete(digest);
        await rm(path, { force: true });
        throw new DigestMismatchError(digest, actual);
      }
      // Flushed before it reaches its content address (unless a failed append just did it).
      // fdatasync: the size is flushed with the data; timestamps need not be.
      if (!this.syncedPartials.delete(digest)) {
        const handle = await open(path, "r");
        try {
          await handle.datasync();
        } finally {
          await handle.close();
        }
      }
      const destination = this.contentPath(digest);
      await rename(path, destination).catch(async (error: unknown) => {
        // blobs/<algorithm>/ is made on the first blob only.
        if (!isNotFound(error)) throw error;
        await makeDirectory(dirname(destination));
        await rename(path, destination);
      });
      await fsyncDirectory(dirname(destination));
      this.totalCache = undefined;
    });
  }

  async discardPartial(digest: string): Promise<void> {
    const path = this.partialPath(digest);
    this.syncedPartials.delete(digest);
    this.hashedPartials.delete(digest);
    await this.partialLocks.run(digest, () => rm(path, { force: true }));
  }

  /** Bytes under blobs/ (for status output): walked at most every few seconds. */
  async totalBytes(): Promise<number> {
    if (this.totalCache && Date.now() - this.totalCache.at < TOTAL_BYTES_CACHE_MS) return this.totalCache.bytes;
    const bytes = await directorySize(join(this.root, "blobs"));
    this.totalCache = { bytes, at: Date.now() };
    return bytes;
  }

  // --- paths (every name is validated: digests and ids come from requests) ---

  private contentPath(digest: string): string {
    const { algorithm, hex } = requireDigest(digest);
    return join(this.root, "blobs", algorithm, hex);
  }

  private partialPath(digest: string): string {
    return join(this.root, "partial", requireDigest(digest).hex);
  }

  private stagingDir(target: StagingTarget): string {
    if (target.kind === "upload") return join(this.root, "staging", `upload-${requireUploadId(target.id)}`);
    const { algorithm, hex } = requireDigest(target.digest);
    return join(this.root, "staging", `${algorithm}-${hex}`);
  }

  private uploadDir(id: string): string {
    return join(this.root, "uploads", requireUploadId(id));
  }

  private uploadDataPath(id: string): string {
    return join(this.uploadDir(id), "data");
  }

  /** The block ids the upload's data was committed from (to recognize a repeated commit). */
  private uploadCommittedPath(id: string): string {
    return join(this.uploadDir(id), "committed.json");
  }

  /**
   * Makes `destination` the concatenation of `sources` (each removed afterwards). One
   * source is renamed; several are copied into a temp file that is fsynced and renamed.
   */
  private async assemble(sources: string[], destination: string): Promise<void> {
    await makeDirectory(dirname(destination));
    if (sources.length === 0) {
      await writeFileAtomic(destination, new Uint8Array(0));
      return;
    }
    if (sources.length === 1) {
      await renameStaged(sources[0]!, destination);
      await fsyncDirectory(dirname(destination));
      return;
    }
    const temp = tempPathFor(destination);
    const handle = await open(temp, "w");
    try {
      for (const source of sources) await writeAll(handle, await openStaged(source));
      await handle.sync();
      await handle.close();
      await rename(temp, destination);
    } catch (error) {
      // A full or failing volume: the temp file goes too (closing twice only fails again, ignored).
      await handle.close().catch(() => undefined);
      await rm(temp, { force: true });
      throw error;
    }
    await fsyncDirectory(dirname(destination));
    for (const source of sources) if (source !== destination) await rm(source, { force: true });
  }
}

function requireDigest(digest: string): { algorithm: DigestAlgorithm; hex: string } {
  const parsed = parseDigest(digest);
  if (!parsed) throw new Error(`not a digest: ${digest}`);
  return parsed;
}

function requireUploadId(id: string): string {
  if (!uploadIdPattern.test(id)) throw new Error(`not an upload id: ${id}`);
  return id;
}

function startsWith(list: string[], prefix: string[]): boolean {
  return prefix.every((id, index) => list[index] === id);
}

/** A missing block is the caller's error (wrong ids), said plainly rather than as ENOENT. */
async function renameStaged(source: string, destination: string): Promise<void> {
  try {
    await rename(source, destination);
  } catch (error) {
    if (isNotFound(error)) throw new Error(`cannot commit: ${source} is not staged`);
    throw error;
  }
}

async function openStaged(source: string): Promise<AsyncIterable<Uint8Array>> {
  try {
    const handle = await open(source, "r");
    return handle.createReadStream({ highWaterMark: READ_CHUNK_BYTES });
  } catch (error) {
    if (isNotFound(error)) throw new Error(`cannot commit: ${source} is not staged`);
    throw error;
  }
}

/**
 * Writes the whole body at the handle's position, gathering small chunks into large
 * writes. Bytes gathered before the body fails are still written before the error
 * propagates (a partial download keeps them). Returns the byte count written. `hashed`,
 * when given, is fed every batch (bytes counts them); a caller whose write fails must not
 * trust it (appendPartial drops it and hashes the file from the disk).
 *
 * One batch is written while the next one arrives, and a batch is hashed on this thread while
 * libuv's pool writes it: the download is not paused for the disk, nor the disk for the hash
 * (at most two batches are held in memory).
 */
async function writeAll(handle: FileHandle, body: AsyncIterable<Uint8Array>, hashed?: { hash: Hash; bytes: number }): Promise<number> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let written = 0;
  let writing: Promise<void> = Promise.resolve();
  const writeBatch = async (batch: Uint8Array[]): Promise<void> => {
    // writev may write less than asked; loop until the batch is out.
    let buffers = batch;
    while (buffers.length > 0) {
      const { bytesWritten } = await handle.writev(buffers);
      written += bytesWritten;
      buffers = dropBytes(buffers, bytesWritten);
    }
  };
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    const batch = pending;
    const batchBytes = pendingBytes;
    pending = [];
    pendingBytes = 0;
    // In order: a batch starts once the one before it is out (its failure is thrown here).
    await writing;
    writing = writeBatch(batch);
    // Handled here and awaited later: a failure while the next batch arrives is not "unhandled".
    writing.catch(() => {});
    if (hashed) {
      for (const buffer of batch) hashed.hash.update(buffer);
      hashed.bytes += batchBytes;
    }
  };
  try {
    for await (const chunk of body) {
      if (chunk.length === 0) continue;
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= WRITE_BATCH_BYTES) await flush();
    }
  } finally {
    await flush();
    await writing;
  }
  return written;
}

/**
 * writeAll for a body read into our own buffers: two of WRITE_BATCH_BYTES, one filling from the
 * network while the other is hashed here and written by libuv's pool. Nothing is allocated per
 * read, so a download touches the same memory from its first MiB to its last. Bytes read before
 * the body fails are written before the error propagates, as in writeAll.
 */
async function writeAllFrom(handle: FileHandle, reader: BufferReader, spare: Buffer[], hashed?: { hash: Hash; bytes: number }): Promise<number> {
  const buffers = [spare.pop() ?? Buffer.allocUnsafe(WRITE_BATCH_BYTES), spare.pop() ?? Buffer.allocUnsafe(WRITE_BATCH_BYTES)] as const;
  let written = 0;
  const writeOut = async (chunk: Uint8Array): Promise<void> => {
    let rest = chunk;
    while (rest.byteLength > 0) {
      const { bytesWritten } = await handle.write(rest);
      written += bytesWritten;
      rest = rest.subarray(bytesWritten);
    }
  };
  let writing: Promise<void> = Promise.resolve();
  try {
    for (let turn = 0; ; turn++) {
      // This buffer's previous write was awaited before the other buffer's began.
      const buffer = buffers[turn % 2]!;
      let filled = 0;
      let failure: unknown;
      try {
        while (filled < buffer.byteLength) {
          const count = await reader.readInto(buffer.subarray(filled));
          if (count === 0) break;
          filled += count;
        }
      } catch (error) {
        failure = error;
      }
      // In order: a buffer's write starts once the one before it is out (its failure is thrown here).
      await writing;
      if (filled > 0) {
        const chunk = buffer.subarray(0, filled);
        writing = writeOut(chunk);
        writing.catch(() => {});
        if (hashed) {
          hashed.hash.update(chunk);
          hashed.bytes += filled;
        }
      }
      if (failure !== undefined) throw failure;
      if (filled < buffer.byteLength) break;
    }
  } finally {
    await writing.finally(() => {
      // No write holds them any more: the next download reuses them.
      for (const buffer of buffers) if (spare.length < WRITE_BUFFER_SLAB) spare.push(buffer);
    });
  }
  return written;
}

function slabOfWriteBuffers(): Buffer[] {
  const slab = Buffer.allocUnsafeSlow(WRITE_BUFFER_SLAB * WRITE_BATCH_BYTES);
  return Array.from({ length: WRITE_BUFFER_SLAB }, (_, i) => slab.subarray(i * WRITE_BATCH_BYTES, (i + 1) * WRITE_BATCH_BYTES));
}

function dropBytes(buffers: Uint8Array[], count: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let skip = count;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}

async function removeIfEmpty(directory: string): Promise<void> {
  try {
    await rmdir(directory);
  } catch (error) {
    const code = errorCode(error);
    if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOENT") throw error;
  }
}

async function directorySize(directory: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch (error) {
    if (isNotFound(error)) return 0;
    throw error;
  }
  for (const entry of entries) {
    const path = join(directory, entry.name);
    try {
      if (entry.isDirectory()) total += await directorySize(path);
      else if (entry.isFile()) total += (await stat(path)).size;
    } catch (error) {
      // A blob deleted while we walk simply does not count.
      if (!isNotFound(error)) throw error;
    }
  }
  return total;
}
