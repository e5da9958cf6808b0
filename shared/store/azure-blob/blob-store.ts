/**
 * BlobStore on Azure Blob Storage (Azurite locally). One container:
 *   blobs/<algorithm>/<hex>   content, addressed by digest, shared by every repository
 *   uploads/<session id>      an upload in progress (staged blocks, then committed)
 * Bytes only become visible at their content address after the engine has verified
 * their digest: staged blocks are invisible until commitBlockList.
 */
import type { ContentInventory } from "../gc-index.js";
import { createHash, randomBytes } from "node:crypto";
import {
  BlobSASPermissions,
  StorageSharedKeyCredential,
  type BlobServiceClient,
  type ContainerClient,
} from "@azure/storage-blob";
import type { BlobStore, ByteRange, StagingTarget } from "../interfaces.js";
import { chunkStream } from "./chunk-stream.js";
import { DelegationKeyCache } from "./delegation-key.js";

/** Block size for staged uploads: large enough for throughput, small enough to buffer a few. */
const BLOCK_BYTES = 8 * 1024 * 1024;
/** Blocks in flight per upload. */
const STAGE_CONCURRENCY = 4;
/** A day: one storage call per half day per instance (Azure allows up to 7 days). */
const DELEGATION_KEY_LIFETIME_MS = 24 * 3600_000;

export interface AzureBlobStoreOptions {
  containerName: string;
  /** Lifetime of the read URLs handed to clients in a 307. */
  readUrlSeconds: number;
}

const contentName = (digest: string): string => `blobs/${digest.replace(":", "/")}`;
const uploadName = (id: string): string => `uploads/${id}`;

export class AzureBlobStore implements BlobStore, ContentInventory {
  private readonly container: ContainerClient;
  /** With a TokenCredential (no account key): the key that signs read URLs. */
  readonly delegationKeys: DelegationKeyCache | undefined;

  constructor(
    service: BlobServiceClient,
    private readonly options: AzureBlobStoreOptions,
  ) {
    this.container = service.getContainerClient(options.containerName);
    if (isTokenCredential(service.credential)) {
      this.delegationKeys = new DelegationKeyCache({
        lifetimeMs: DELEGATION_KEY_LIFETIME_MS,
        // A SAS must not outlive the key that signed it.
        minimumRemainingMs: options.readUrlSeconds * 1000 + 10 * 60_000,
        fetchKey: (startsOn, expiresOn) => service.getUserDelegationKey(startsOn, expiresOn),
      });
    }
  }

  /** Every blob at a content address, for the garbage collector. */
  async *listContent(): AsyncIterable<{ digest: string; lastModified: Date; version: string }> {
    for await (const blob of this.container.listBlobsFlat({ prefix: "blobs/" })) {
      const [, algorithm, hex] = blob.name.split("/");
      if (algorithm && hex) yield { digest: `${algorithm}:${hex}`, lastModified: blob.properties.lastModified, version: blob.properties.etag };
    }
  }

  async deleteContent(digest: string, version: string): Promise<boolean> {
    try {
      await this.container.getBlobClient(contentName(digest)).delete({ conditions: { ifMatch: version } });
      return true;
    } catch (error) {
      if (statusOf(error) === 404 || statusOf(error) === 412) return false;
      throw error;
    }
  }

  async stat(digest: string): Promise<number | undefined> {
    try {
      const properties = await this.container.getBlobClient(contentName(digest)).getProperties();
      return properties.contentLength;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array>> {
    const blob = this.container.getBlobClient(contentName(digest));
    const response = range ? await blob.download(range.start, range.end - range.start + 1) : await blob.download();
    if (!response.readableStreamBody) throw new Error(`blob ${digest} has no body`);
    return response.readableStreamBody as AsyncIterable<Uint8Array>;
  }

  async readUrl(digest: string): Promise<string | undefined> {
    const blob = this.container.getBlobClient(contentName(digest));
    // Read-only and short-lived; signed with the account key, or else (an identity, as in
    // Azure with shared-key access off) with a user delegation key.
    const sas = {
      permissions: BlobSASPermissions.parse("r"),
      startsOn: new Date(Date.now() - 60_000),
      expiresOn: new Date(Date.now() + this.options.readUrlSeconds * 1000),
    };
    if (blob.credential instanceof StorageSharedKeyCredential) return blob.generateSasUrl(sas);
    if (!this.delegationKeys) return undefined;
    return blob.generateUserDelegationSasUrl(sas, await this.delegationKeys.current());
  }

  async writeContent(digest: string, content: Uint8Array): Promise<void> {
    await this.container.getBlockBlobClient(contentName(digest)).uploadData(content);
  }

  async delete(digest: string): Promise<void> {
    await this.container.getBlobClient(contentName(digest)).deleteIfExists();
  }

  async stage(target: StagingTarget, body: AsyncIterable<Uint8Array>): Promise<{ bytes: number; blockIds: string[] }> {
    const blob = this.container.getBlockBlobClient(targetName(target));
    // A prefix of this writer's own: two writers of one target never share a block id.
    const writer = randomBytes(9).toString("hex");
    const blockIds: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let bytes = 0;
    let failure: unknown;
    for await (const block of chunkStream(body, BLOCK_BYTES)) {
      if (failure) break;
      const blockId = Buffer.from(`${writer}-${String(blockIds.length).padStart(8, "0")}`).toString("base64");
      blockIds.push(blockId);
      bytes += block.length;
      // Content-MD5 lets storage refuse a block damaged in transit (and spares Azurite
      // its slow CRC64 of every block).
      const transactionalContentMD5 = createHash("md5").update(block).digest();
      const staging: Promise<void> = blob
        .stageBlock(blockId, block, block.length, { transactionalContentMD5 })
        .then(() => undefined)
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => inFlight.delete(staging));
      inFlight.add(staging);
      if (inFlight.size >= STAGE_CONCURRENCY) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failure) throw failure;
    return { bytes, blockIds };
  }

  async commit(target: StagingTarget, blockIds: string[]): Promise<void> {
    await this.container.getBlockBlobClient(targetName(target)).commitBlockList(blockIds);
  }

  async readUpload(uploadId: string): Promise<AsyncIterable<Uint8Array>> {
    const response = await this.container.getBlobClient(uploadName(uploadId)).download();
    if (!response.readableStreamBody) throw new Error(`upload ${uploadId} has no body`);
    return response.readableStreamBody as AsyncIterable<Uint8Array>;
  }

  async promoteUpload(uploadId: string, digest: string): Promise<void> {
    const source = this.container.getBlobClient(uploadName(uploadId));
    const destination = this.container.getBlobClient(contentName(digest));
    if (!(await destination.exists())) {
      // Server-side copy inside one account: the bytes never come back through us.
      const poller = await destination.beginCopyFromURL(source.url);
      await poller.pollUntilDone();
    }
    await source.deleteIfExists();
  }

  async discardUpload(uploadId: string): Promise<void> {
    await this.container.getBlobClient(uploadName(uploadId)).deleteIfExists();
  }
}

function targetName(target: StagingTarget): string {
  return target.kind === "upload" ? uploadName(target.id) : contentName(target.digest);
}

function isTokenCredential(credential: unknown): boolean {
  return typeof credential === "object" && credential !== null && typeof (credential as { getToken?: unknown }).getToken === "function";
}

function statusOf(error: unknown): number | undefined {
  return typeof error === "object" && error !== null ? (error as { statusCode?: number }).statusCode : undefined;
}
