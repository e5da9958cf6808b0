/**
 * `npm run build:edge`: the edge agent and the part of shared/ it imports, with every npm
 * dependency inside, as one ESM file, edge-agent/dist/connected-registry.mjs. That file is the
 * npm package's bin and what the container image runs: `node connected-registry.mjs start ...`
 * needs no node_modules.
 *
 * Bundled from the TypeScript sources (esbuild strips the types; `tsc` in `npm run build`
 * checks them). jsonwebtoken and its dependencies are CommonJS and `require` Node's built-ins;
 * in an ESM bundle esbuild's require shim throws "Dynamic require ... is not supported" unless
 * a real `require` is in scope, which the banner makes with createRequire.
 */
import { build } from "esbuild";
import { stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const outfile = `${root}edge-agent/dist/connected-registry.mjs`;

const result = await build({
  // Paths in the bundle's comments are relative to this: the same bytes from any working
  // directory, so two builds of one commit match (the container image's digest depends on it).
  absWorkingDir: root,
  entryPoints: [`${root}edge-agent/src/cli.ts`],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  // The oldest Node the package's engines allow.
  target: "node20",
  // Names in stack traces and log lines stay readable; the size saved would be small.
  minify: false,
  sourcemap: false,
  legalComments: "eof",
  metafile: true,
  logLevel: "warning",
  banner: {
    js: [
      "#!/usr/bin/env node",
      // libuv's thread pool (file I/O, fsync) is 4 threads by default: a first sync flushing
      // several downloaded blobs at once would leave none for the writes of the others. The pool
      // starts at its first use, after this line; a size set by the operator wins.
      'process.env.UV_THREADPOOL_SIZE ||= "16";',
      'import { createRequire as __bundleCreateRequire } from "node:module";',
      "const require = __bundleCreateRequire(import.meta.url);",
    ].join("\n"),
  },
});

// Anything from the cloud side (the Azure SDKs) in here means an import crossed the line.
const azure = Object.keys(result.metafile.inputs).filter((input) => input.includes("node_modules/@azure/"));
if (azure.length > 0) throw new Error(`the edge bundle pulls in Azure SDK code: ${azure.slice(0, 5).join(", ")}`);

const { size } = await stat(outfile);
process.stdout.write(`${outfile}: ${(size / 1024).toFixed(0)} KiB, ${Object.keys(result.metafile.inputs).length} modules\n`);
