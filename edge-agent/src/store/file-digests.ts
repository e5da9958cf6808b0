/**
 * Digests of whole files, computed on a worker thread of their own.
 *
 * Why: the SHA-256 of everything a sync downloads was the largest single cost on the agent's
 * one JavaScript thread (about a fifth of its CPU in a first sync: ~150 ms per 200 MiB), the
 * thread that also receives the bytes, writes them and serves pulls. On the worker it runs
 * beside them, on another core. The worker reads the file back, from the page cache it was
 * just written through, into one buffer it reuses.
 */
import { Worker } from "node:worker_threads";
import type { DigestAlgorithm } from "../../../shared/domain/digest.js";

/** The worker's whole program (CommonJS, evaluated): hash the file, send back the hex digest. */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { open } = require("node:fs/promises");
const buffer = Buffer.allocUnsafeSlow(1024 * 1024);
let queue = Promise.resolve();
parentPort.on("message", (job) => {
  // One file at a time: they share the buffer.
  queue = queue.then(() => digest(job));
});
async function digest({ id, path, algorithm }) {
  let handle;
  try {
    const hash = createHash(algorithm);
    handle = await open(path, "r");
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
    parentPort.postMessage({ id, hex: hash.digest("hex") });
  } catch (error) {
    parentPort.postMessage({ id, error: { message: error && error.message ? error.message : String(error), code: error && error.code } });
  } finally {
    await handle?.close().catch(() => {});
  }
}
`;

interface Pending {
  worker: Worker;
  resolve(hex: string): void;
  reject(error: Error): void;
}

export class FileDigests {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** `<algorithm>:<hex>` of the file's bytes. */
  async digest(path: string, algorithm: DigestAlgorithm): Promise<string> {
    const worker = this.running();
    const id = this.nextId++;
    const hex = await new Promise<string>((resolve, reject) => {
      this.pending.set(id, { worker, resolve, reject });
      // Work in flight keeps the process alive; an idle worker does not.
      worker.ref();
      worker.postMessage({ id, path, algorithm });
    });
    return `${algorithm}:${hex}`;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private running(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    const settle = (id: number): Pending | undefined => {
      const job = this.pending.get(id);
      if (!job) return undefined;
      this.pending.delete(id);
      if (![...this.pending.values()].some((other) => other.worker === worker)) worker.unref();
      return job;
    };
    worker.on("message", (message: { id: number; hex?: string; error?: { message: string; code?: string } }) => {
      const job = settle(message.id);
      if (!job) return;
      if (message.hex !== undefined) job.resolve(message.hex);
      else job.reject(Object.assign(new Error(message.error?.message ?? "hashing failed"), message.error?.code ? { code: message.error.code } : {}));
    });
    // An error and the exit after it: the jobs this worker had fail once; the next digest starts a new worker.
    const fail = (error: unknown): void => {
      if (this.worker === worker) this.worker = undefined;
      const reason = error instanceof Error ? error : new Error(`the hashing worker stopped (exit code ${String(error)})`);
      for (const [id, job] of [...this.pending]) if (job.worker === worker) settle(id)?.reject(reason);
    };
    worker.on("error", fail);
    worker.on("exit", fail);
    this.worker = worker;
    return worker;
  }
}
