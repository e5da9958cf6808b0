/**
 * Builds the edge agent's image as an OCI layout, without a container engine and without a
 * base image: the root filesystem is assembled from the pinned Node runtime, the libraries
 * ldd names on the build machine, Debian's CA bundle and the bundled agent.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { BuildInfo } from "./build-info.js";
import { copyrightFilesFor } from "./debian-copyright.js";
import { imageConfig, imageManifest } from "./image-config.js";
import { buildLayer } from "./layer.js";
import { loadNodeRuntime } from "./node-runtime.js";
import { writeOciLayout } from "./oci-layout.js";
import { agentLayerEntries, IMAGE_PATHS, runtimeLayerEntries } from "./root-filesystem.js";
import { sharedLibrariesOf } from "./shared-libraries.js";

export interface BuildImageOptions {
  /** The bundled agent (`npm run build:edge`); the proxy client built beside it goes in too. */
  bundle: string;
  /** The OCI layout folder to (re)write. */
  output: string;
  /** Where the Node tarball is kept between builds. */
  cacheDir: string;
  info: BuildInfo;
  /** The CA bundle to ship (Debian's by default). */
  caBundle?: string;
}

export interface BuiltImage {
  layout: string;
  tag: string;
  /** The manifest's digest: what a registry serves the image under. */
  digest: string;
  /** Sum of the gzipped layers and the config: what a pull downloads. */
  compressedSize: number;
  /** Sum of the uncompressed layers: what it takes on disk once unpacked. */
  uncompressedSize: number;
  nodeVersion: string;
}

export async function buildEdgeImage(options: BuildImageOptions): Promise<BuiltImage> {
  const readBuilt = (file: string): Promise<Buffer> =>
    readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`cannot read the bundled agent's ${file} (${error.code ?? error.message}): run npm run build:edge first`);
    });
  const bundle = await readBuilt(options.bundle);
  const proxyClient = await readBuilt(join(dirname(options.bundle), basename(IMAGE_PATHS.agentProxyClient)));
  const node = await loadNodeRuntime(options.cacheDir);
  // ldd needs the binary as a file; it is the pinned, checked one. Written aside and renamed,
  // so a build running at the same time (or a process running this file) never sees it half
  // written or gets ETXTBSY.
  const nodeFile = join(options.cacheDir, `node-${node.version}`, "node");
  await mkdir(join(options.cacheDir, `node-${node.version}`), { recursive: true });
  await writeFile(`${nodeFile}.${process.pid}`, node.binary, { mode: 0o755 });
  await rename(`${nodeFile}.${process.pid}`, nodeFile);
  const libraries = await sharedLibrariesOf(nodeFile);
  const caBundlePath = options.caBundle ?? IMAGE_PATHS.caBundle;
  const caBundle = await readFile(caBundlePath).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot read the CA bundle ${caBundlePath} (${error.code ?? error.message}): install Debian's ca-certificates`);
  });
  const copyrights = await copyrightFilesFor(libraries.map((library) => library.path), ["ca-certificates"]);

  const runtime = await buildLayer(runtimeLayerEntries({ node: node.binary, nodeLicense: node.license, libraries, caBundle, copyrights }), options.info.created);
  const agent = await buildLayer(agentLayerEntries(bundle, proxyClient), options.info.created);
  const config = imageConfig({ ...options.info, nodeVersion: node.version }, { runtime, agent });
  const manifest = imageManifest(config, [runtime, agent]);
  const tag = options.info.version;
  await writeOciLayout(options.output, tag, manifest, [
    { digest: runtime.digest, bytes: runtime.compressed },
    { digest: agent.digest, bytes: agent.compressed },
    config,
  ]);
  return {
    layout: options.output,
    tag,
    digest: manifest.digest,
    compressedSize: runtime.compressed.length + agent.compressed.length + config.size,
    uncompressedSize: runtime.uncompressedSize + agent.uncompressedSize,
    nodeVersion: node.version,
  };
}
