/**
 * The Debian copyright file of the package that installed a file on the build machine:
 * the libraries and certificates copied into the image keep their licence notices with
 * them (LGPL and GPL-with-exception for glibc and libstdc++, MPL for the CA list).
 */
import { execFile } from "node:child_process";
import { readFile, realpath } from "node:fs/promises";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface CopyrightFile {
  /** `/usr/share/doc/<package>/copyright`, as Debian installs it. */
  path: string;
  content: Buffer;
}

async function owningPackage(path: string): Promise<string | undefined> {
  // With merged /usr, dpkg knows each file under one of its two names only.
  const real = await realpath(path).catch(() => path);
  for (const candidate of new Set([path, real, real.replace(/^\/usr\//, "/")])) {
    const answer = await execFileAsync("dpkg-query", ["--search", candidate]).catch(() => undefined);
    const name = answer?.stdout.split("\n")[0]?.split(":")[0]?.trim();
    if (name) return name;
  }
  return undefined;
}

/** The copyright files for `paths`, one per package; files no package owns are left out. */
export async function copyrightFilesFor(paths: readonly string[], extraPackages: readonly string[] = []): Promise<CopyrightFile[]> {
  const packages = new Set(extraPackages);
  for (const path of paths) {
    const name = await owningPackage(path);
    if (name) packages.add(name);
  }
  const files: CopyrightFile[] = [];
  for (const name of [...packages].sort()) {
    const path = `/usr/share/doc/${name}/copyright`;
    const content = await readFile(path).catch(() => undefined);
    if (content) files.push({ path, content });
  }
  return files;
}
