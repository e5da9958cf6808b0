/**
 * Deletes an unreachable manifest's files in the FsMetadataStore layout: the referrer
 * marker, then the manifest (a crash in between leaves a manifest that listReferrers no
 * longer shows, which the next collection removes). Unlike FsMetadataStore.deleteManifest
 * it does not read every tag of the repository to drop those pointing at it: none does
 * (the collector checked, and a tag set to it since counts as a use that spares it), and on
 * a repository with many tags that scan made each deletion cost as many reads.
 */
import { rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { parseDigest } from "../../../shared/domain/digest.js";
import { isValidRepositoryName } from "../../../shared/domain/names.js";

export async function removeManifestFiles(metadataRoot: string, manifest: { repository: string; digest: string; subjectDigest?: string }): Promise<void> {
  if (!isValidRepositoryName(manifest.repository)) throw new Error(`not a repository name: ${manifest.repository}`);
  const directory = join(metadataRoot, "repositories", ...manifest.repository.split("/"));
  const own = requireDigest(manifest.digest);
  if (manifest.subjectDigest) {
    const markers = join(directory, "_referrers", requireDigest(manifest.subjectDigest).hex);
    await rm(join(markers, own.hex), { force: true });
    // The subject's folder goes with its last marker (rmdir refuses a folder that is not empty).
    await rmdir(markers).catch(() => undefined);
  }
  await rm(join(directory, "_manifests", own.algorithm, `${own.hex}.json`), { force: true });
}

function requireDigest(digest: string): { algorithm: string; hex: string } {
  const parsed = parseDigest(digest);
  if (!parsed) throw new Error(`not a digest: ${digest}`);
  return parsed;
}
