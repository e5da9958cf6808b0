/**
 * What the data folder holds, read straight from the layout the edge stores write
 * (store/fs-metadata-store.ts, store/fs-blob-store.ts) without going through them: the
 * collector's reads must not count as uses (use-tracker.ts). Temp files (".name.tmp") of
 * writes in progress are skipped, except in blobs/ where old ones are crash leftovers.
 */
import { readFile, stat } from "node:fs/promises";
import type { Stats } from "node:fs";
import { join } from "node:path";
import { isNotFound, isTempName, readdirOrEmpty } from "../store/atomic-file.js";

export interface StoredManifest {
  repository: string;
  digest: string;
  blobDigests: string[];
  manifestDigests: string[];
  subjectDigest?: string;
  /** False when the bytes live in the blob store under the manifest's digest (large manifests). */
  inline: boolean;
  bytes: number;
  modifiedMs: number;
}

export interface StoredLink {
  repository: string;
  digest: string;
  /** When a push or sync last wrote or relied on it, else the file's time. */
  usedMs: number;
}

export interface RepositoryInventory {
  name: string;
  /** Tag -> the manifest it points at, as the tag file holds it (whole, so a missing manifest file still counts). */
  tags: Map<string, Pick<StoredManifest, "digest" | "blobDigests" | "manifestDigests">>;
  manifests: Map<string, StoredManifest>;
  links: Map<string, StoredLink>;
}

export interface StoredFile {
  /** A digest (blobs, partials) or a relative path (temp leftovers). */
  key: string;
  path: string;
  bytes: number;
  modifiedMs: number;
}

/** Every repository folder under metadata/repositories (a folder holding record folders "_x"). */
export async function readRepositories(metadataRoot: string): Promise<RepositoryInventory[]> {
  const found: RepositoryInventory[] = [];
  const visit = async (directory: string, parts: string[]): Promise<void> => {
    const names = (await readdirOrEmpty(directory)).filter((name) => !isTempName(name));
    if (parts.length > 0 && names.some((name) => name.startsWith("_"))) found.push(await readRepository(directory, parts.join("/")));
    for (const name of names) if (!name.startsWith("_")) await visit(join(directory, name), [...parts, name]);
  };
  await visit(join(metadataRoot, "repositories"), []);
  return found;
}

async function readRepository(directory: string, name: string): Promise<RepositoryInventory> {
  const repository: RepositoryInventory = { name, tags: new Map(), manifests: new Map(), links: new Map() };
  for (const file of await jsonFiles(join(directory, "_tags"))) {
    const tag = await readJson<{ digest: string; manifest: { blobDigests?: string[]; manifestDigests?: string[] } }>(join(directory, "_tags", file));
    if (tag) {
      repository.tags.set(file.slice(0, -".json".length), { digest: tag.digest, blobDigests: tag.manifest.blobDigests ?? [], manifestDigests: tag.manifest.manifestDigests ?? [] });
    }
  }
  for (const algorithm of await names(join(directory, "_manifests"))) {
    for (const file of await jsonFiles(join(directory, "_manifests", algorithm))) {
      const path = join(directory, "_manifests", algorithm, file);
      const [fields, info] = await Promise.all([
        readJson<{ digest: string; blobDigests?: string[]; manifestDigests?: string[]; subjectDigest?: string; content?: string; size: number }>(path),
        statOrUndefined(path),
      ]);
      if (!fields || !info) continue;
      repository.manifests.set(fields.digest, {
        repository: name,
        digest: fields.digest,
        blobDigests: fields.blobDigests ?? [],
        manifestDigests: fields.manifestDigests ?? [],
        ...(fields.subjectDigest ? { subjectDigest: fields.subjectDigest } : {}),
        inline: fields.content !== undefined,
        bytes: info.size,
        modifiedMs: info.mtimeMs,
      });
    }
  }
  for (const algorithm of await names(join(directory, "_layers"))) {
    for (const file of await jsonFiles(join(directory, "_layers", algorithm))) {
      const path = join(directory, "_layers", algorithm, file);
      const [link, info] = await Promise.all([readJson<{ digest: string; usedAt?: string }>(path), statOrUndefined(path)]);
      if (!link || !info) continue;
      const usedAt = link.usedAt ? Date.parse(link.usedAt) : NaN;
      repository.links.set(link.digest, { repository: name, digest: link.digest, usedMs: Math.max(Number.isNaN(usedAt) ? 0 : usedAt, info.mtimeMs) });
    }
  }
  return repository;
}

/** Content files under blobs/<alg>/<hex>, keyed by digest; temp leftovers separately. */
export async function readContent(blobRoot: string, options: { tempOnly?: boolean } = {}): Promise<{ content: StoredFile[]; temp: StoredFile[] }> {
  const content: StoredFile[] = [];
  const temp: StoredFile[] = [];
  for (const algorithm of await names(join(blobRoot, "blobs"))) {
    const directory = join(blobRoot, "blobs", algorithm);
    for (const name of await readdirOrEmpty(directory)) {
      if (options.tempOnly && !isTempName(name)) continue;
      const path = join(directory, name);
      const info = await statOrUndefined(path);
      if (!info?.isFile()) continue;
      const file = { key: isTempName(name) ? join("blobs", algorithm, name) : `${algorithm}:${name}`, path, bytes: info.size, modifiedMs: info.mtimeMs };
      (isTempName(name) ? temp : content).push(file);
    }
  }
  return { content, temp };
}

const algorithmOfHex: Record<number, string> = { 64: "sha256", 128: "sha512" };

/** Partial downloads under partial/<hex>, keyed by digest. */
export async function readPartials(blobRoot: string): Promise<StoredFile[]> {
  const partials: StoredFile[] = [];
  for (const name of await readdirOrEmpty(join(blobRoot, "partial"))) {
    const algorithm = algorithmOfHex[name.length];
    const path = join(blobRoot, "partial", name);
    const info = await statOrUndefined(path);
    if (!algorithm || !info?.isFile()) continue;
    partials.push({ key: `${algorithm}:${name}`, path, bytes: info.size, modifiedMs: info.mtimeMs });
  }
  return partials;
}

/** Staged upload blocks under staging/<target>/<block>. */
export async function readStaged(blobRoot: string): Promise<StoredFile[]> {
  const staged: StoredFile[] = [];
  for (const target of await readdirOrEmpty(join(blobRoot, "staging"))) {
    for (const name of await readdirOrEmpty(join(blobRoot, "staging", target))) {
      const path = join(blobRoot, "staging", target, name);
      const info = await statOrUndefined(path);
      if (info?.isFile()) staged.push({ key: join("staging", target, name), path, bytes: info.size, modifiedMs: info.mtimeMs });
    }
  }
  return staged;
}

async function names(directory: string): Promise<string[]> {
  return (await readdirOrEmpty(directory)).filter((name) => !isTempName(name));
}

async function jsonFiles(directory: string): Promise<string[]> {
  return (await names(directory)).filter((name) => name.endsWith(".json"));
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch (error) {
    // Gone since listed (a concurrent delete), or torn by something other than the stores: not ours to judge.
    if (isNotFound(error) || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
