/**
 * The shared libraries a binary needs, found the way the dynamic loader finds them: `ldd`
 * on the build machine, whose answers include the loader itself. Each library goes into the
 * image at the path ldd names (the loader's default search path, and the binary's
 * PT_INTERP for the loader), with the content of the file that path resolves to, so a
 * symlinked layout on the build machine (merged /usr) becomes plain files in the image.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface SharedLibrary {
  /** Where the loader looks for it: the path ldd printed. */
  path: string;
  content: Buffer;
}

/**
 * The library paths in ldd's output. `linux-vdso.so.1` is the kernel's and has no file; a
 * library ldd could not find stops the build (the image would not start).
 */
export function parseLdd(output: string): string[] {
  const paths: string[] = [];
  for (const line of output.split("\n")) {
    const text = line.trim();
    if (text === "") continue;
    if (/=>\s*not found/.test(text)) throw new Error(`a shared library is missing on the build machine: ${text}`);
    const linked = /=>\s*(\/\S+)/.exec(text) ?? /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(text);
    if (linked) paths.push(linked[1]!);
  }
  return [...new Set(paths)].sort();
}

export async function sharedLibrariesOf(binaryPath: string): Promise<SharedLibrary[]> {
  const { stdout } = await execFileAsync("ldd", [binaryPath]);
  const paths = parseLdd(stdout);
  if (paths.length === 0) throw new Error(`ldd found no shared libraries for ${binaryPath}: is it a dynamically linked binary for this machine?`);
  return Promise.all(paths.map(async (path) => ({ path, content: await readFile(path) })));
}
