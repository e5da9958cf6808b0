/** An import's source inside this registry: another repository's manifests, and the shared blob store. */
import { readBody } from "../http/body.js";
import type { RegistryContext } from "../registry/context.js";
import type { ImportSourceReader } from "./copier.js";
import type { FetchedManifest } from "./remote-source.js";

export class LocalSource implements ImportSourceReader {
  readonly name = "this registry";

  constructor(private readonly registry: RegistryContext) {}

  async manifest(repository: string, reference: string): Promise<FetchedManifest | undefined> {
    const record = reference.includes(":") ? await this.registry.metadata.getManifest(repository, reference) : await this.registry.metadata.getTaggedManifest(repository, reference);
    if (!record) return undefined;
    const content = record.content ?? (await readBody(await this.registry.blobs.read(record.digest), record.size));
    return { digest: record.digest, mediaType: record.mediaType, content: Buffer.from(content) };
  }

  async referrers(repository: string, digest: string): Promise<string[]> {
    return (await this.registry.metadata.listReferrers(repository, digest)).map((referrer) => referrer.digest);
  }

  async blob(_repository: string, digest: string, offset: number): Promise<{ body: AsyncIterable<Uint8Array>; restarted: boolean }> {
    const size = (await this.registry.blobs.stat(digest)) ?? 0;
    return { body: await this.registry.blobs.read(digest, offset > 0 ? { start: offset, end: size - 1 } : undefined), restarted: false };
  }
}
