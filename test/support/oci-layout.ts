/**
 * Writes small but real container images to disk for registry clients such as skopeo to
 * read: an OCI image layout holding a two-platform image index, and a Docker schema 2
 * image in skopeo's `dir:` format. Every byte is derived from a seed, so the same seed
 * always gives the same digests (tests can predict them) and different seeds give
 * unrelated blobs (tests pushing to one registry do not share content by accident).
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

export const OCI_INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json";
export const OCI_MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";
export const OCI_CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";
export const DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json";
export const DOCKER_LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/** The annotation an OCI layout's index.json uses to give a manifest a tag. */
export const OCI_REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

/** A fixed timestamp keeps configs (and so their digests) the same on every run. */
const CREATED = "2024-01-01T00:00:00Z";
const TAR_BLOCK = 512;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface PlatformImage {
  platform: Platform;
  manifestDigest: string;
  configDigest: string;
  layerDigests: string[];
}

export interface MultiArchLayout {
  dir: string;
  tag: string;
  indexDigest: string;
  platforms: PlatformImage[];
  /** Every blob in the layout (index, manifests, configs, layers) by digest, with its bytes. */
  blobs: Map<string, Buffer>;
}

export interface DockerDirImage {
  dir: string;
  manifestDigest: string;
  /** The exact bytes of manifest.json, which a registry must serve back unchanged. */
  manifest: Buffer;
  configDigest: string;
  layerDigests: string[];
  blobs: Map<string, Buffer>;
}

/** The two platforms every multi-arch layout holds, in index order. */
export const LAYOUT_PLATFORMS: readonly Platform[] = [
  { architecture: "amd64", os: "linux" },
  { architecture: "arm64", os: "linux", variant: "v8" },
];

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/**
 * An OCI image layout (the `oci:` transport) whose index.json tags one image index with
 * `tag`; the index lists one manifest per platform in LAYOUT_PLATFORMS, each with an OCI
 * config and two gzip-compressed tar layers.
 */
export async function writeMultiArchOciLayout(dir: string, options: { tag: string; seed: string }): Promise<MultiArchLayout> {
  const blobs = new Map<string, Buffer>();
  const add = (bytes: Buffer): string => {
    const digest = sha256Digest(bytes);
    blobs.set(digest, bytes);
    return digest;
  };

  const platforms: PlatformImage[] = [];
  const manifestDescriptors: Descriptor[] = [];
  for (const platform of LAYOUT_PLATFORMS) {
    const image = buildImage(`${options.seed}/${platformName(platform)}`, platform);
    const layers = image.layers.map((layer) => ({ mediaType: OCI_LAYER_MEDIA_TYPE, digest: add(layer.gzip), size: layer.gzip.length }));
    const configDigest = add(image.config);
    const manifest = jsonBytes({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      config: { mediaType: OCI_CONFIG_MEDIA_TYPE, digest: configDigest, size: image.config.length },
      layers,
    });
    const manifestDigest = add(manifest);
    manifestDescriptors.push({ mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: manifestDigest, size: manifest.length, platform });
    platforms.push({ platform, manifestDigest, configDigest, layerDigests: layers.map((layer) => layer.digest) });
  }

  const index = jsonBytes({ schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests: manifestDescriptors });
  const indexDigest = add(index);

  await writeLayoutFiles(dir, blobs, [
    { mediaType: OCI_INDEX_MEDIA_TYPE, digest: indexDigest, size: index.length, annotations: { [OCI_REF_NAME_ANNOTATION]: options.tag } },
  ]);
  return { dir, tag: options.tag, indexDigest, platforms, blobs };
}

/**
 * A single-platform Docker schema 2 image in skopeo's `dir:` format: manifest.json, each
 * blob in a file named by its hex digest, and the `version` file skopeo checks first.
 */
export async function writeDockerDirImage(dir: string, options: { seed: string }): Promise<DockerDirImage> {
  const platform = LAYOUT_PLATFORMS[0]!;
  const image = buildImage(`${options.seed}/docker`, platform);
  const blobs = new Map<string, Buffer>();
  const layers = image.layers.map((layer) => {
    const digest = sha256Digest(layer.gzip);
    blobs.set(digest, layer.gzip);
    return { mediaType: DOCKER_LAYER_MEDIA_TYPE, size: layer.gzip.length, digest };
  });
  const configDigest = sha256Digest(image.config);
  blobs.set(configDigest, image.config);
  const manifest = jsonBytes({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST_MEDIA_TYPE,
    config: { mediaType: DOCKER_CONFIG_MEDIA_TYPE, size: image.config.length, digest: configDigest },
    layers,
  });

  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "version"), "Directory Transport Version: 1.1\n");
  await writeFile(join(dir, "manifest.json"), manifest);
  for (const [digest, bytes] of blobs) await writeFile(join(dir, hexOf(digest)), bytes);
  return {
    dir,
    manifestDigest: sha256Digest(manifest),
    manifest,
    configDigest,
    layerDigests: layers.map((layer) => layer.digest),
    blobs,
  };
}

/** Reads every blob of an OCI image layout, keyed by digest. */
export async function readLayoutBlobs(dir: string): Promise<Map<string, Buffer>> {
  const blobs = new Map<string, Buffer>();
  const blobDir = join(dir, "blobs", "sha256");
  for (const hex of await readdir(blobDir)) blobs.set(`sha256:${hex}`, await readFile(join(blobDir, hex)));
  return blobs;
}

/** The descriptors an OCI image layout's index.json lists (what its tags point at). */
export async function readLayoutIndex(dir: string): Promise<Descriptor[]> {
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests: Descriptor[] };
  return index.manifests;
}

/** A minimal valid ustar archive with one regular file, ending in the two zero blocks tar requires. */
export function tarWithOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(TAR_BLOCK);
  const field = (offset: number, length: number, value: string): void => {
    header.write(value, offset, length, "ascii");
  };
  // Numeric fields are zero-padded octal followed by a NUL, filling the field.
  const octal = (offset: number, length: number, value: number): void => {
    field(offset, length - 1, value.toString(8).padStart(length - 1, "0"));
  };
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long: ${name}`);
  field(0, 100, name);
  octal(100, 8, 0o644); // mode
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, content.length); // size
  octal(136, 12, Date.parse(CREATED) / 1000); // mtime
  field(156, 1, "0"); // typeflag: regular file
  field(257, 6, "ustar\0");
  field(263, 2, "00");
  field(265, 32, "root");
  field(297, 32, "root");
  // The checksum is the byte sum of the header with its own field read as eight spaces,
  // written as six octal digits, a NUL and a space.
  header.fill(" ", 148, 156);
  const sum = header.reduce((total, byte) => total + byte, 0);
  field(148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);

  const padding = (TAR_BLOCK - (content.length % TAR_BLOCK)) % TAR_BLOCK;
  return Buffer.concat([header, content, Buffer.alloc(padding), Buffer.alloc(2 * TAR_BLOCK)]);
}

interface BuiltImage {
  config: Buffer;
  layers: { tar: Buffer; gzip: Buffer }[];
}

/** Two layers and the OCI/Docker image config that describes them (the two config formats share these fields). */
function buildImage(seed: string, platform: Platform): BuiltImage {
  const layers = [1, 2].map((n) => {
    const tar = tarWithOneFile(`layer${n}.txt`, Buffer.from(`layer ${n} of ${seed}\n`));
    // gzip output from node:zlib carries no timestamp or file name, so it is stable.
    return { tar, gzip: gzipSync(tar) };
  });
  const config = jsonBytes({
    created: CREATED,
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: platform.os,
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: ["/bin/sh"],
      Labels: { "test.seed": seed },
    },
    rootfs: { type: "layers", diff_ids: layers.map((layer) => sha256Digest(layer.tar)) },
    history: layers.map((_, i) => ({ created: CREATED, created_by: `test layer ${i + 1}` })),
  });
  return { config, layers };
}

async function writeLayoutFiles(dir: string, blobs: Map<string, Buffer>, manifests: Descriptor[]): Promise<void> {
  const blobDir = join(dir, "blobs", "sha256");
  await mkdir(blobDir, { recursive: true });
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(join(dir, "index.json"), jsonBytes({ schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests }));
  for (const [digest, bytes] of blobs) await writeFile(join(blobDir, hexOf(digest)), bytes);
}

function platformName(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
}

function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1);
}

function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
