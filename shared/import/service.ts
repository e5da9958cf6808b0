/**
 * Import operations: `start` checks the request, records the operation and queues it;
 * the worker (a timer in Azure, also kicked in-process when an import starts) takes queued
 * operations and runs them. A worker that dies leaves its message to come back after
 * the visibility timeout; the next run skips the blobs already in and goes on.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { formatSource, parseImportSource, parseTargetTag, type ImportSource, type TargetTag } from "../domain/import-reference.js";
import type { RegistryContext } from "../registry/context.js";
import { ConcurrentUpdateError } from "../store/interfaces.js";
import type { ImportOperation, OperationStore, WorkMessage, WorkQueue } from "../store/operation-store.js";
import { ImportCopier, type ImportSourceReader } from "./copier.js";
import { ImportError, isRetryableImportError } from "./errors.js";
import { LocalSource } from "./local-source.js";
import { RemoteSource } from "./remote-source.js";
import type { CredentialSealer } from "./sealed-credentials.js";
import { logError } from "../observability/log.js";

export const importRequestSchema = z.object({
  source: z.string().min(1).max(600),
  targetTags: z.array(z.string().max(600)).max(50).optional(),
  untaggedTargetRepositories: z.array(z.string().max(256)).max(50).optional(),
  username: z.string().max(1000).optional(),
  password: z.string().max(10_000).optional(),
  mode: z.enum(["NoForce", "Force"]).default("NoForce"),
  /** Signatures, SBOMs and other referrers of the image come along unless this is false. */
  includeReferrers: z.boolean().default(true),
  wait: z.boolean().default(false),
});
export type ImportRequest = z.infer<typeof importRequestSchema>;

/** The message stays hidden this long per claim; the worker renews it while it works. */
const CLAIM_MS = 30_000;
/** After this many claims that ended in a crash or a transient failure, the operation fails. */
const MAX_ATTEMPTS = 5;
/** Imports one instance runs at once. */
const WORKERS = 4;
/** Progress is written at most this often while bytes flow. */
const PROGRESS_WRITE_MS = 1000;

export class ImportService {
  private draining: Promise<void> | undefined;
  private readonly copier: ImportCopier;

  constructor(
    private readonly registry: RegistryContext,
    private readonly operations: OperationStore,
    private readonly queue: WorkQueue,
    private readonly sealer: CredentialSealer,
    private readonly log: (message: string) => void = logError,
  ) {
    this.copier = new ImportCopier(registry);
  }

  /** Checks and records an import; throws ImportError("InvalidRequest" | "TagExists") for the caller to answer at once. */
  async start(input: ImportRequest): Promise<ImportOperation> {
    const source = parseImportSource(input.source);
    if (!source.ok) throw new ImportError("InvalidRequest", source.message);
    const { targetTags, untagged } = targetsOf(input, source.value);
    if ((input.username === undefined) !== (input.password === undefined)) throw new ImportError("InvalidRequest", "give both username and password for the source, or neither");
    if (!source.value.registry && input.username !== undefined) throw new ImportError("InvalidRequest", "credentials are for another registry's source; a source in this registry needs none");
    if (input.mode === "NoForce") {
      for (const target of targetTags) {
        if (await this.registry.metadata.getTaggedManifest(target.repository, target.tag)) {
          throw new ImportError("TagExists", `target tag ${target.repository}:${target.tag} already exists; import with mode Force to replace it`);
        }
      }
    }
    const now = new Date().toISOString();
    const operation = await this.operations.create({
      id: `imp-${randomUUID()}`,
      kind: "import",
      status: "Running",
      source: formatSource(source.value),
      targetTags: targetTags.map((target) => `${target.repository}:${target.tag}`),
      untaggedTargetRepositories: untagged,
      mode: input.mode,
      includeReferrers: input.includeReferrers,
      ...(input.username !== undefined ? { sealedCredentials: this.sealer.seal({ username: input.username, password: input.password ?? "" }) } : {}),
      progress: { bytesCopied: 0, bytesTotal: 0, blobsCopied: 0, blobsSkipped: 0, blobsTotal: 0 },
      attempts: 0,
      createdAt: now,
      updatedAt: now,
    });
    await this.queue.send(operation.id);
    return operation;
  }

  get(id: string): Promise<ImportOperation | undefined> {
    return this.operations.get(id);
  }

  /** Polls until the operation ends or `timeoutMs` passes; the latest state either way. */
  async waitFor(id: string, timeoutMs: number): Promise<ImportOperation | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const operation = await this.operations.get(id);
      if (!operation || operation.status !== "Running" || Date.now() >= deadline) return operation;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /**
   * The `expire-import-operations` timer: a Running operation no worker has advanced for
   * `staleMs` (its message lost, or it failed in a way that never ended it) is ended as
   * Failed, so nobody polls it forever. Bounded per run; an etag conflict means a worker
   * is on it after all, and it is left alone.
   */
  async expireStale(now: Date, staleMs: number, limit: number): Promise<number> {
    let expired = 0;
    for (const operation of await this.operations.listStale(new Date(now.getTime() - staleMs), limit)) {
      try {
        await this.end(operation, { code: "Abandoned", message: `no worker advanced this import for ${Math.round(staleMs / 60000)} minutes; start it again` });
        expired++;
      } catch (error) {
        if (!(error instanceof ConcurrentUpdateError)) throw error;
      }
    }
    if (expired > 0) this.log(`expire-import-operations: ended ${expired} abandoned import${expired === 1 ? "" : "s"}`);
    return expired;
  }

  /** Runs queued operations until the queue is empty; one drain at a time per instance. */
  drain(): Promise<void> {
    this.draining ??= this.drainQueue().finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  /** Up to WORKERS imports at once; a long or stuck one does not hold the others back. */
  private async drainQueue(): Promise<void> {
    const active = new Set<Promise<void>>();
    for (;;) {
      const messages = active.size < WORKERS ? await this.queue.receive(WORKERS - active.size, CLAIM_MS) : [];
      for (const message of messages) {
        const running: Promise<void> = this.work(message).finally(() => active.delete(running));
        active.add(running);
      }
      if (active.size === 0) return;
      // Look for more work as soon as one finishes (or, with free slots, every few seconds).
      await Promise.race([...active, ...(active.size < WORKERS ? [new Promise((resolve) => setTimeout(resolve, 2000))] : [])]);
    }
  }

  /** Runs one claimed operation, keeping its message hidden while it works. */
  private async work(message: WorkMessage): Promise<void> {
    let current = message;
    const renew = setInterval(() => {
      void this.queue.extend(current, CLAIM_MS).then(
        (renewed) => {
          current = renewed;
        },
        () => {},
      );
    }, CLAIM_MS / 3);
    try {
      const done = await this.run(message.operationId);
      if (done) await this.queue.delete(current);
    } catch (error) {
      this.log(`import ${message.operationId}: worker failed, the message will come back: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      clearInterval(renew);
    }
  }

  /** True when the operation has ended (its message can go). */
  private async run(id: string): Promise<boolean> {
    let operation = await this.operations.get(id);
    if (!operation || operation.status !== "Running") return true;
    operation = await this.operations.replace({ ...operation, attempts: operation.attempts + 1, updatedAt: new Date().toISOString() });
    if (operation.attempts > MAX_ATTEMPTS) {
      await this.end(operation, { code: "SourceUnreachable", message: `the import was interrupted ${MAX_ATTEMPTS} times; start it again` });
      return true;
    }
    const parsed = parseImportSource(operation.source);
    if (!parsed.ok) {
      await this.end(operation, { code: "InvalidRequest", message: parsed.message });
      return true;
    }
    const credentials = operation.sealedCredentials ? this.sealer.open(operation.sealedCredentials) : undefined;
    const source: ImportSourceReader & { close?: () => void } = parsed.value.registry ? new RemoteSource(parsed.value.registry, credentials) : new LocalSource(this.registry);
    const tracker = new ProgressWriter(this.operations, operation);
    try {
      if (source instanceof RemoteSource) await source.probe();
      const reference = "tag" in parsed.value.reference ? parsed.value.reference.tag : parsed.value.reference.digest;
      const digest = await this.copier.copy(
        source,
        {
          repository: parsed.value.repository,
          reference,
          targetTags: operation.targetTags.map((text) => (parseTargetTag(text) as { ok: true; value: TargetTag }).value),
          untaggedTargetRepositories: operation.untaggedTargetRepositories,
          force: operation.mode === "Force",
          includeReferrers: operation.includeReferrers !== false,
        },
        tracker,
      );
      await this.end(await tracker.flush(), undefined, digest);
      this.log(`import ${id}: ${operation.source} -> ${[...operation.targetTags, ...operation.untaggedTargetRepositories].join(", ")} succeeded (${digest})`);
      return true;
    } catch (error) {
      const latest = await tracker.flush();
      if (isRetryableImportError(error) && latest.attempts < MAX_ATTEMPTS) {
        this.log(`import ${id}: ${error.message}; it will be retried`);
        // Shown with the operation while it runs, so whoever follows it sees why it waits.
        await this.operations.replace({ ...latest, lastRetry: { attempt: latest.attempts, message: error.message, at: new Date().toISOString() } }).catch(() => undefined);
        return false;
      }
      const failure = error instanceof ImportError ? { code: error.code, message: error.message } : { code: "InternalError", message: "the import failed on an internal error; the registry logged it" };
      if (!(error instanceof ImportError)) this.log(`import ${id} failed: ${error instanceof Error ? error.stack : String(error)}`);
      await this.end(latest, failure);
      return true;
    } finally {
      source.close?.();
    }
  }

  private async end(operation: ImportOperation, error: ImportOperation["error"], digest?: string): Promise<void> {
    const now = new Date().toISOString();
    const { sealedCredentials: _dropped, lastRetry: _retried, ...rest } = operation;
    await this.operations.replace({
      ...rest,
      status: error ? "Failed" : "Succeeded",
      ...(error ? { error } : {}),
      ...(digest ? { digest } : {}),
      updatedAt: now,
      endedAt: now,
    });
  }
}

function targetsOf(input: ImportRequest, source: ImportSource): { targetTags: TargetTag[]; untagged: string[] } {
  const untagged = input.untaggedTargetRepositories ?? [];
  for (const repository of untagged) {
    if (!parseTargetTag(`${repository}:latest`).ok) throw new ImportError("InvalidRequest", `"${repository}" in untaggedTargetRepositories is not a valid repository name`);
  }
  let targetTags: TargetTag[] = [];
  for (const text of input.targetTags ?? []) {
    const parsed = parseTargetTag(text);
    if (!parsed.ok) throw new ImportError("InvalidRequest", parsed.message);
    targetTags.push(parsed.value);
  }
  if (targetTags.length === 0 && untagged.length === 0) {
    // As az acr import: the source's own repository and tag; a digest lands untagged.
    if ("tag" in source.reference) targetTags = [{ repository: source.repository, tag: source.reference.tag }];
    else return { targetTags, untagged: [source.repository] };
  }
  return { targetTags, untagged };
}

/** Keeps the operation's progress current in the store without a write per chunk. */
class ProgressWriter {
  private lastWrite = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly operations: OperationStore,
    private operation: ImportOperation,
  ) {}

  async resolved(digest: string, blobs: number, bytes: number, referrers: string[]): Promise<void> {
    this.operation = { ...this.operation, digest, referrers, progress: { bytesCopied: 0, bytesTotal: bytes, blobsCopied: 0, blobsSkipped: 0, blobsTotal: blobs } };
    await this.write();
  }

  bytes(count: number): void {
    this.operation.progress = { ...this.operation.progress, bytesCopied: this.operation.progress.bytesCopied + count };
    if (Date.now() - this.lastWrite > PROGRESS_WRITE_MS) void this.write().catch(() => {});
  }

  async blobDone(skipped: boolean): Promise<void> {
    const progress = this.operation.progress;
    this.operation.progress = skipped ? { ...progress, blobsSkipped: progress.blobsSkipped + 1 } : { ...progress, blobsCopied: progress.blobsCopied + 1 };
    if (Date.now() - this.lastWrite > PROGRESS_WRITE_MS) await this.write();
  }

  async flush(): Promise<ImportOperation> {
    await this.write();
    return this.operation;
  }

  private write(): Promise<void> {
    this.lastWrite = Date.now();
    this.writing = this.writing.then(async () => {
      try {
        const stored = await this.operations.replace({ ...this.operation, updatedAt: new Date().toISOString() });
        this.operation = { ...this.operation, version: stored.version };
      } catch (error) {
        if (!(error instanceof ConcurrentUpdateError)) throw error;
      }
    });
    return this.writing;
  }
}
