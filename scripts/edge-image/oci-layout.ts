/**
 * Writes an OCI image layout (image-spec `image-layout.md`): `oci-layout`, `index.json`
 * naming the manifest under its tag, and every blob under `blobs/sha256/`. skopeo and
 * podman read it as `oci:<folder>:<tag>`. The folder is replaced as a whole, so a layout
 * never mixes blobs of two builds.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Blob } from "./image-config.js";

export interface LayoutBlob {
  digest: string;
  bytes: Buffer;
}

export async function writeOciLayout(dir: string, tag: string, manifest: Blob, blobs: readonly LayoutBlob[]): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  for (const blob of [...blobs, manifest]) {
    await writeFile(join(dir, "blobs", "sha256", blob.digest.replace(/^sha256:/, "")), blob.bytes);
  }
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        mediaType: manifest.mediaType,
        digest: manifest.digest,
        size: manifest.size,
        annotations: { "org.opencontainers.image.ref.name": tag },
        platform: { architecture: "amd64", os: "linux" },
      },
    ],
  };
  await writeFile(join(dir, "index.json"), JSON.stringify(index));
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
}
