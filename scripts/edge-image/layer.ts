/**
 * One image layer: a tar of the given entries, gzipped, with the digests an OCI image
 * names it by. The same entries always give the same bytes, which is what makes two builds
 * of one commit push the same digest:
 * - entries in byte order of their paths, each parent directory written before its children
 *   (implied parents are added, root-owned, 0755);
 * - one fixed mtime for every entry, uid/gid from the entry (0 unless said), no user or group
 *   names, modes exactly as given (never the build machine's umask);
 * - gzip from Node's zlib, whose header carries no file name and an mtime of 0, at a fixed
 *   level.
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";

export type LayerEntry =
  | { type: "file"; path: string; mode: number; content: Buffer; uid?: number; gid?: number }
  | { type: "directory"; path: string; mode: number; uid?: number; gid?: number };

export interface Layer {
  /** The gzipped tar, as stored and pushed. */
  compressed: Buffer;
  /** sha256 of `compressed`: the descriptor's digest in the manifest. */
  digest: string;
  /** sha256 of the uncompressed tar: the config's `rootfs.diff_ids` entry. */
  diffId: string;
  uncompressedSize: number;
}

// zlib's default: level 9 makes the Node binary 0.4% smaller and takes 3.5 times as long.
const GZIP_LEVEL = 6;

const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/** `/usr/local/bin/node` -> `usr/local/bin/node`: layer paths are relative to the root. */
function relative(path: string): string {
  const trimmed = path.replace(/^\/+/, "").replace(/\/+$/, "");
  if (trimmed === "" || trimmed.split("/").some((part) => part === "" || part === "." || part === "..")) {
    throw new Error(`not a usable path inside an image: "${path}"`);
  }
  return trimmed;
}

/** The entries, relative, de-duplicated, with every missing parent directory added, in byte order. */
export function layerEntries(entries: readonly LayerEntry[]): LayerEntry[] {
  const byPath = new Map<string, LayerEntry>();
  for (const entry of entries) {
    const path = relative(entry.path);
    if (byPath.has(path)) throw new Error(`two entries for ${path} in one layer`);
    byPath.set(path, { ...entry, path });
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split("/");
    for (let depth = 1; depth < parts.length; depth += 1) {
      const parent = parts.slice(0, depth).join("/");
      const existing = byPath.get(parent);
      if (existing && existing.type !== "directory") throw new Error(`${parent} is a file and the parent of ${path}`);
      if (!existing) byPath.set(parent, { type: "directory", path: parent, mode: 0o755 });
    }
  }
  // Comparing the path segment by segment keeps a directory right before its children
  // ("etc", "etc/group", "etc-old"), however names with characters below "/" sort.
  const order = (a: string, b: string): number => {
    const left = a.split("/");
    const right = b.split("/");
    for (let i = 0; i < Math.min(left.length, right.length); i += 1) {
      const l = Buffer.from(left[i]!);
      const r = Buffer.from(right[i]!);
      const compared = Buffer.compare(l, r);
      if (compared !== 0) return compared;
    }
    return left.length - right.length;
  };
  return [...byPath.values()].sort((a, b) => order(a.path, b.path));
}

/** Builds the layer in memory (the largest file, the Node binary, is ~125 MB). */
export async function buildLayer(entries: readonly LayerEntry[], mtime: Date): Promise<Layer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of tar) chunks.push(chunk as Buffer);
  })();
  for (const entry of layerEntries(entries)) {
    const header = { name: entry.path, mode: entry.mode, uid: entry.uid ?? 0, gid: entry.gid ?? 0, uname: "", gname: "", mtime };
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null): void => (error ? reject(error) : resolve());
      if (entry.type === "file") tar.entry({ ...header, type: "file", size: entry.content.length }, entry.content, done);
      else tar.entry({ ...header, type: "directory" }, done);
    });
  }
  tar.finalize();
  await collected;
  const uncompressed = Buffer.concat(chunks);
  const compressed = gzipSync(uncompressed, { level: GZIP_LEVEL });
  return { compressed, digest: sha256(compressed), diffId: sha256(uncompressed), uncompressedSize: uncompressed.length };
}
