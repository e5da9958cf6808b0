/**
 * `npm run build` step: the web console (console/src, browser TypeScript with no framework)
 * bundled and minified by esbuild into dist/console, which the registry serves at /console/
 * (shared/console/static-files.ts) and the Functions package carries with the rest of dist/.
 * Asset names carry their content hash so they can be cached for good; index.html names them.
 */
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = fileURLToPath(new URL("../..", import.meta.url));
const outdir = `${root}dist/console`;

await rm(outdir, { recursive: true, force: true });
await mkdir(`${outdir}/assets`, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [`${root}console/src/main.ts`],
  outdir: `${outdir}/assets`,
  entryNames: "app-[hash]",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const js = outputs.find((name) => name.endsWith(".js"));
const css = outputs.find((name) => name.endsWith(".css"));
if (!js || !css) throw new Error(`the console bundle lacks a script or a stylesheet: ${outputs.join(", ")}`);
const template = await readFile(`${root}console/index.html`, "utf8");
await writeFile(`${outdir}/index.html`, template.replace("{{js}}", js).replace("{{css}}", css));

let gzipped = 0;
for (const name of [js, css, "../index.html"]) gzipped += gzipSync(await readFile(`${outdir}/assets/${name}`)).byteLength;
process.stdout.write(`${outdir}: ${js}, ${css}; ${(gzipped / 1024).toFixed(1)} KiB gzipped\n`);
