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
import { build, type Plugin } from "esbuild";
import { stat } from "node:fs/promises";
import { builtinModules, createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const outfile = `${root}edge-agent/dist/connected-registry.mjs`;

/**
 * Node's built-ins through `require`, not `import`: an ESM import of a built-in makes Node build
 * an ES module facade that reads every export, and node:http's exports include getters
 * (WebSocket, ...) that load Node's internal copy of undici: about 30 ms of start-up for
 * nothing the agent uses. The bundle's `require` (the banner's createRequire) loads the module
 * without a facade; esbuild's __toESM reads an export only when the code uses it.
 */
const BUILTINS = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);
const builtinsByRequire: Plugin = {
  name: "builtins-by-require",
  setup(build) {
    build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      if (!BUILTINS.has(args.path)) return undefined;
      // The stand-in module's own require stays a require of the real built-in.
      if (args.namespace === "builtin") return { path: args.path, external: true };
      return { path: args.path, namespace: "builtin" };
    });
    build.onLoad({ filter: /.*/, namespace: "builtin" }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: "js" }));
  },
};

/**
 * Less code to compile at every start (V8 reads the whole file before the first line runs):
 * - zod's entry re-exports every language's error messages as `z.locales` (358 KiB); the agent
 *   uses none of them (zod's own default, English, stays: its schemas import it directly);
 * - luxon came twice, its ES build for our own imports and its CommonJS build for
 *   cron-parser's `require` (229 KiB): both now get the CommonJS one;
 * - prom-client's entry loads every part at once: the Pushgateway (node:https, node:zlib),
 *   the cluster aggregator (node:cluster), the default process metrics (perf_hooks, v8) and
 *   Summary; the agent uses Registry, Counter and Gauge, so its entry gives those three (-5 ms of
 *   start-up); importing any other name from it fails the build, naming it.
 */
const requireHere = createRequire(import.meta.url);
const smallerDependencies: Plugin = {
  name: "smaller-dependencies",
  setup(build) {
    build.onResolve({ filter: /\/locales\/index\.js$/ }, (args) => (args.importer.includes("/node_modules/zod/") ? { path: join(dirname(args.importer), args.path), namespace: "zod-locales" } : undefined));
    build.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({ contents: 'export { default as en } from "./en.js";', resolveDir: dirname(args.path), loader: "js" }));
    build.onResolve({ filter: /^luxon$/ }, () => ({ path: requireHere.resolve("luxon") }));
    build.onResolve({ filter: /^prom-client$/ }, () => ({ path: requireHere.resolve("prom-client"), namespace: "prom-client-parts" }));
    build.onLoad({ filter: /.*/, namespace: "prom-client-parts" }, (args) => ({
      // ES exports: an import of any other name is a build error ("No matching export"), not an undefined at run time.
      contents: ["Registry", "Counter", "Gauge"].map((part) => `export { default as ${part} } from "./lib/${part.toLowerCase()}.js";`).join("\n"),
      resolveDir: dirname(args.path),
      loader: "js",
    }));
  },
};

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
  plugins: [builtinsByRequire, smallerDependencies],
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
