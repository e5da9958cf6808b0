/**
 * Where a repository lives, in the console's hash routes and in the management API. In the
 * hash the whole name is one encoded segment; in the API the name keeps its slashes and what
 * follows starts with "_" (docs/admin-api.md, "Repositories").
 */
export const repositoryHash = (name: string): string => `#/repositories/${encodeURIComponent(name)}`;
export const manifestHash = (name: string, digest: string): string => `${repositoryHash(name)}/manifests/${encodeURIComponent(digest)}`;
export const repositoryApi = (name: string): string => `repositories/${name.split("/").map(encodeURIComponent).join("/")}`;

/** A short digest for tables; the full one is in the link's title and on the manifest page. */
export const shortDigest = (digest: string): string => digest.replace(/^(sha\d+:)([0-9a-f]{12})[0-9a-f]+$/, "$1$2…");

/** What a referrer is, from its artifactType, for people; the type itself is shown beside it. */
export function referrerKind(artifactType: string | null): string {
  const type = (artifactType ?? "").toLowerCase();
  if (/signature|\.sig\b|sig\.v1|notary/.test(type)) return "Signature";
  if (/spdx|cyclonedx|sbom|syft/.test(type)) return "SBOM";
  if (/attestation|in-toto|provenance|slsa/.test(type)) return "Attestation";
  return "Artifact";
}
