/**
 * npm run build:image: builds the edge agent's container image as an OCI layout (default
 * edge-agent/dist/image) and prints what was built as one JSON line on stdout.
 *   node dist/scripts/edge-image/build.js [--output DIR] [--cache DIR] [--bundle FILE] [--source URL]
 * SOURCE_DATE_EPOCH sets the image's timestamp (default: the commit's time); IMAGE_REVISION and
 * IMAGE_SOURCE the revision and source labels (default: the commit, and the origin remote).
 */
import { fileURLToPath } from "node:url";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { readBuildInfo } from "./build-info.js";
import { buildEdgeImage } from "./build-image.js";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

async function main(): Promise<void> {
  const { values } = parseArgs({
    strict: true,
    options: {
      output: { type: "string" },
      cache: { type: "string" },
      bundle: { type: "string" },
      source: { type: "string" },
    },
  });
  const info = await readBuildInfo(repoRoot, process.env, values.source);
  if (!info.source) process.stderr.write("note: no git remote named origin and no --source (or IMAGE_SOURCE): the image has no org.opencontainers.image.source label\n");
  const built = await buildEdgeImage({
    bundle: resolve(values.bundle ?? join(repoRoot, "edge-agent", "dist", "connected-registry.mjs")),
    output: resolve(values.output ?? join(repoRoot, "edge-agent", "dist", "image")),
    cacheDir: resolve(values.cache ?? join(repoRoot, "node_modules", ".cache", "edge-image")),
    info,
  });
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
  process.stderr.write(`built oci:${built.layout}:${built.tag} ${built.digest} (${mb(built.compressedSize)} compressed, ${mb(built.uncompressedSize)} unpacked; Node ${built.nodeVersion})\n`);
  process.stdout.write(`${JSON.stringify(built)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`build:image: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
