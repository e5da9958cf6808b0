/**
 * Runs the scrypt of token password checks (passwords stored before the fast form of
 * passwords.ts; a fast hash is checked at once) on a few worker threads of its own, never
 * more at once than there are workers, with a short queue behind them.
 *
 * Why: node's async scrypt runs on libuv's thread pool (4 threads by default), the same
 * threads that serve every file read of the edge's content store and the DNS lookups and
 * zlib work of the cloud. A flood of wrong passwords (each ~50 ms of CPU and 16 MiB) filled
 * those threads and a legitimate pull at the edge waited seconds for a file read. Here the
 * checks run on dedicated threads, so file reads always find a libuv thread, and at most
 * `workers` cores are ever spent on scrypt. When the queue is full the check is refused with
 * PasswordChecksBusyError (answered 429 with Retry-After) instead of growing without bound.
 */
import { Worker } from "node:worker_threads";
import { isFastHash, parseScryptHash, SCRYPT_KEY_BYTES, sameKey, verifyFastHash } from "./passwords.js";

export interface PasswordCheckPoolOptions {
  /** Threads that run scrypt; at most this many checks run at once. */
  workers: number;
  /** Checks that may wait for a thread; beyond this they are refused. */
  maxQueue: number;
}

export class PasswordChecksBusyError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`too many password checks are waiting; try again in ${retryAfterSeconds} s`);
  }
}

/** The worker's whole program (CommonJS, evaluated): derive the key and send it back. */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { scryptSync } = require("node:crypto");
parentPort.on("message", ({ id, password, salt, keyBytes, options }) => {
  try {
    parentPort.postMessage({ id, key: scryptSync(password, salt, keyBytes, options) });
  } catch {
    // Parameters scrypt refuses (a cost that is no power of two, too much memory): no match.
    parentPort.postMessage({ id, key: null });
  }
});
`;

interface Job {
  id: number;
  password: string;
  stored: string;
  resolve(matches: boolean): void;
  reject(error: unknown): void;
}

interface Slot {
  worker: Worker;
  job?: Job;
}

export class PasswordCheckPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: PasswordCheckPoolOptions) {
    if (options.workers < 1) throw new Error("a password check pool needs at least one worker");
  }

  /**
   * Whether `password` matches the stored hash; false for a malformed hash. The fast form
   * (a generated password's salted SHA-256: microseconds) is checked here and now; only
   * scrypt hashes take a thread.
   */
  verify(password: string, stored: string): Promise<boolean> {
    if (this.closed) return Promise.reject(new Error("the password check pool is closed"));
    if (isFastHash(stored)) return Promise.resolve(verifyFastHash(password, stored));
    if (!parseScryptHash(stored)) return Promise.resolve(false);
    const idle = this.idleSlot();
    if (!idle && this.queue.length >= this.options.maxQueue) return Promise.reject(new PasswordChecksBusyError(1));
    return new Promise<boolean>((resolve, reject) => {
      const job: Job = { id: this.nextId++, password, stored, resolve, reject };
      if (idle) this.run(idle, job);
      else this.queue.push(job);
    });
  }

  /** Checks running and waiting, for metrics and tests. */
  get load(): { running: number; waiting: number } {
    return { running: this.slots.filter((slot) => slot.job).length, waiting: this.queue.length };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error("the password check pool is closed"));
    await Promise.all(this.slots.splice(0).map((slot) => slot.worker.terminate()));
  }

  private idleSlot(): Slot | undefined {
    const idle = this.slots.find((slot) => !slot.job);
    if (idle) return idle;
    if (this.slots.length < this.options.workers) return this.startSlot();
    return undefined;
  }

  private startSlot(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot: Slot = { worker };
    worker.on("message", (message: { id: number; key: Uint8Array | null }) => {
      const job = slot.job;
      if (!job || job.id !== message.id) return;
      slot.job = undefined;
      const verifier = parseScryptHash(job.stored)!;
      job.resolve(message.key !== null && sameKey(Buffer.from(message.key.buffer, message.key.byteOffset, message.key.byteLength), verifier));
      this.next(slot);
    });
    const fail = (error: unknown): void => {
      const index = this.slots.indexOf(slot);
      if (index >= 0) this.slots.splice(index, 1);
      slot.job?.reject(error instanceof Error ? error : new Error(`a password check worker stopped (${String(error)})`));
      slot.job = undefined;
      // A replacement starts on demand; the waiting checks get it now.
      const queued = this.queue.shift();
      if (queued && !this.closed) this.run(this.startSlot(), queued);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => {
      if (!this.closed && this.slots.includes(slot)) fail(code);
    });
    this.slots.push(slot);
    return slot;
  }

  private run(slot: Slot, job: Job): void {
    slot.job = job;
    // Referenced only while busy: an idle pool never keeps a process alive.
    slot.worker.ref();
    const verifier = parseScryptHash(job.stored)!;
    slot.worker.postMessage({ id: job.id, password: job.password, salt: verifier.salt, keyBytes: SCRYPT_KEY_BYTES, options: verifier.options });
  }

  private next(slot: Slot): void {
    const job = this.queue.shift();
    if (job) this.run(slot, job);
    else slot.worker.unref();
  }
}
