/**
 * What an import names: its source (`[<registry>/]<repository>[:<tag>|@<digest>]`) and its
 * targets (`<repository>:<tag>`), read as `az acr import` and Docker read them: the first
 * component is a registry host when it has a "." or ":" or is "localhost"; Docker Hub's
 * one-component names live under "library/".
 */
import { isDigest } from "./digest.js";
import { isValidRepositoryName, isValidTag } from "./names.js";

export interface ImportSource {
  /** host[:port] of the source registry; undefined: a repository of this registry. */
  registry: string | undefined;
  repository: string;
  reference: { tag: string } | { digest: string };
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string };

const DOCKER_HUB_NAMES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
/** Where Docker Hub's Distribution API answers. */
export const DOCKER_HUB_REGISTRY = "registry-1.docker.io";

export function parseImportSource(text: string): ParseResult<ImportSource> {
  const trimmed = text.trim();
  let rest = trimmed;
  let reference: ImportSource["reference"] = { tag: "latest" };
  const at = rest.indexOf("@");
  if (at >= 0) {
    const digest = rest.slice(at + 1);
    if (!isDigest(digest)) return { ok: false, message: `"${digest}" in source "${trimmed}" is not a digest (sha256:<64 hex>)` };
    reference = { digest };
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  let registry: string | undefined;
  if (slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    registry = first;
    rest = rest.slice(slash + 1);
  }
  if (!("digest" in reference)) {
    // A tag follows the last ":" that is after the last "/" (a port's ":" is gone with the host).
    const colon = rest.lastIndexOf(":");
    if (colon > rest.lastIndexOf("/")) {
      const tag = rest.slice(colon + 1);
      if (!isValidTag(tag)) return { ok: false, message: `"${tag}" in source "${trimmed}" is not a valid tag` };
      reference = { tag };
      rest = rest.slice(0, colon);
    }
  }
  if (registry && DOCKER_HUB_NAMES.has(registry)) {
    registry = DOCKER_HUB_REGISTRY;
    if (!rest.includes("/")) rest = `library/${rest}`;
  }
  if (!isValidRepositoryName(rest)) {
    return { ok: false, message: `"${rest}" in source "${trimmed}" is not a valid repository name (lowercase letters, digits, separators . _ - and /)` };
  }
  return { ok: true, value: { registry, repository: rest, reference } };
}

export interface TargetTag {
  repository: string;
  tag: string;
}

export function parseTargetTag(text: string): ParseResult<TargetTag> {
  const colon = text.lastIndexOf(":");
  if (colon <= 0 || colon < text.lastIndexOf("/")) return { ok: false, message: `target "${text}" must be <repository>:<tag>` };
  const repository = text.slice(0, colon);
  const tag = text.slice(colon + 1);
  if (!isValidRepositoryName(repository)) return { ok: false, message: `"${repository}" in target "${text}" is not a valid repository name` };
  if (!isValidTag(tag)) return { ok: false, message: `"${tag}" in target "${text}" is not a valid tag` };
  return { ok: true, value: { repository, tag } };
}

export function formatSource(source: ImportSource): string {
  const reference = "tag" in source.reference ? `:${source.reference.tag}` : `@${source.reference.digest}`;
  return `${source.registry ? `${source.registry}/` : ""}${source.repository}${reference}`;
}
