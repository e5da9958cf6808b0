/**
 * `npm run build:edge`: the edge agent and the part of shared/ it imports, with every npm
 * dependency inside, as ESM files in edge-agent/dist/: connected-registry.mjs, the npm
 * package's bin and what the container image runs (`node connected-registry.mjs start ...`
 * needs no node_modules), and undici.mjs beside it, the outbound-proxy client that the agent
 * imports only when a proxy is set (see undiciApart).
 *
 * Bundled from the TypeScript sources (esbuild strips the types; `tsc` in `npm run build`
 * checks them). jsonwebtoken and its dependencies are CommonJS and `require` Node's built-ins;
 * in an ESM bundle esbuild's require shim throws "Dynamic require ... is not supported" unless
 * a real `require` is in scope, which the banner makes with createRequire.
 */
import { build, type BuildOptions, type Plugin } from "esbuild";
import { readFile } from "node:fs/promises";
import { builtinModules, createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const outDir = `${root}edge-agent/dist`;
/** The proxy client's file, beside the bundle: a relative import() resolves against the importing file. */
const UNDICI_FILE = "undici.mjs";

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

/**
 * undici (shared/remote/proxied-transport.ts's ProxyAgent) was 1 MiB of the 2.4 MiB bundle,
 * and V8 reads every byte of a module before its first line runs: ~30 ms of every start, for
 * the few sites behind an outbound proxy. The agent already imports it only when a proxy is
 * first used, so that import() now names a file of its own, built beside the bundle.
 */
const undiciApart: Plugin = {
  name: "undici-apart",
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, () => ({ path: `./${UNDICI_FILE}`, external: true }));
  },
};

/** What both files share. */
const common = {
  // Paths in the bundle's comments are relative to this: the same bytes from any working
  // directory, so two builds of one commit match (the container image's digest depends on it).
  absWorkingDir: root,
  bundle: true,
  platform: "node",
  format: "esm",
  // The oldest Node the package's engines allow.
  target: "node20",
  // Without comments and indentation: a third less for V8 to read at every start, and no
  // comment's non-ASCII character (a name in a license line, an en dash) making V8 decode
  // the whole file as UTF-16 (decode ~20 ms -> ~7). Names stay as written, so stack traces
  // and log lines still read; only the line numbers in them become bundle offsets.
  minifyWhitespace: true,
  sourcemap: false,
  legalComments: "eof",
  metafile: true,
  logLevel: "warning",
} as const satisfies BuildOptions;
const requireShim = [
  'import { createRequire as __bundleCreateRequire } from "node:module";',
  "const require = __bundleCreateRequire(import.meta.url);",
];

const result = await build({
  ...common,
  entryPoints: [`${root}edge-agent/src/cli.ts`],
  outfile: `${outDir}/connected-registry.mjs`,
  plugins: [builtinsByRequire, smallerDependencies, undiciApart],
  banner: {
    js: [
      "#!/usr/bin/env node",
      // libuv's thread pool (file I/O, fsync) is 4 threads by default: a first sync flushing
      // several downloaded blobs at once would leave none for the writes of the others. The pool
      // starts at its first use, after this line; a size set by the operator wins.
      'process.env.UV_THREADPOOL_SIZE ||= "16";',
      ...requireShim,
    ].join("\n"),
  },
});

// The names proxied-transport.ts takes from it (its type says so: importing another is a type error).
const undici = await build({
  ...common,
  stdin: { contents: 'export { ProxyAgent } from "undici";', resolveDir: root, sourcefile: "undici-for-the-edge-agent.js", loader: "js" },
  outfile: `${outDir}/${UNDICI_FILE}`,
  plugins: [builtinsByRequire],
  banner: { js: requireShim.join("\n") },
});

// Anything from the cloud side (the Azure SDKs) in here means an import crossed the line.
const azure = Object.keys(result.metafile.inputs).filter((input) => input.includes("node_modules/@azure/"));
if (azure.length > 0) throw new Error(`the edge bundle pulls in Azure SDK code: ${azure.slice(0, 5).join(", ")}`);

for (const [file, meta] of Object.entries({ ...result.metafile.outputs, ...undici.metafile.outputs })) {
  const bytes = await readFile(`${root}${file}`);
  const modules = Object.keys(meta.inputs).length;
  // Worth knowing, not worth failing a build for: a non-ASCII byte makes V8 read the whole file
  // as UTF-16 (undici.mjs has one in a license line, and loads only behind a proxy).
  const ascii = file.endsWith(UNDICI_FILE) || bytes.every((byte) => byte < 0x80) ? "" : " (not ASCII only: slower to start)";
  process.stdout.write(`${root}${file}: ${(bytes.length / 1024).toFixed(0)} KiB, ${modules} modules${ascii}\n`);
}
