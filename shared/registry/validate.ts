/** Turns the domain's name and digest rules into the protocol's errors. */
import { isValidRepositoryName, isValidTag } from "../domain/names.js";
import { parseDigest, type ParsedDigest } from "../domain/digest.js";
import { RegistryError } from "../domain/registry-errors.js";

export function requireRepositoryName(name: string): string {
  if (!isValidRepositoryName(name)) {
    throw new RegistryError(
      "NAME_INVALID",
      `invalid repository name "${name}": use lowercase letters, digits and the separators . _ __ - between components, and / between path components (at most 255 characters)`,
      { detail: { name } },
    );
  }
  return name;
}

export function requireDigest(value: string | null | undefined, what = "digest"): ParsedDigest & { value: string } {
  const parsed = value ? parseDigest(value) : undefined;
  if (!parsed) {
    throw new RegistryError("DIGEST_INVALID", `invalid ${what} "${value ?? ""}": expected sha256:<64 hex> or sha512:<128 hex>`, {
      detail: { digest: value ?? null },
    });
  }
  return { ...parsed, value: value! };
}

export type ManifestReference = { tag: string } | { digest: string };

/**
 * The reference of a manifest to read or delete, or undefined when it is neither a valid
 * tag nor a valid digest: no manifest can exist by such a name, so the caller answers
 * 404 MANIFEST_UNKNOWN (as distribution does), and a client probing for it sees "absent".
 */
export function lookupReference(reference: string): ManifestReference | undefined {
  if (reference.includes(":")) return parseDigest(reference) ? { digest: reference } : undefined;
  return isValidTag(reference) ? { tag: reference } : undefined;
}

/** The reference a manifest is pushed to: an invalid tag or digest is the client's error (400). */
export function requireReference(reference: string): ManifestReference {
  if (reference.includes(":")) return { digest: requireDigest(reference, "manifest digest").value };
  if (!isValidTag(reference)) {
    throw new RegistryError(
      "MANIFEST_INVALID",
      `invalid tag "${reference}": up to 128 letters, digits, _ . and -, not starting with . or -`,
      { status: 400, detail: { tag: reference } },
    );
  }
  return { tag: reference };
}
