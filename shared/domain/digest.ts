/**
 * Content digests: "<algorithm>:<hex>". sha256 is what every client uses; sha512 is
 * accepted because the OCI spec registers it.
 */

export type DigestAlgorithm = "sha256" | "sha512";

const hexLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

export function parseDigest(value: string): ParsedDigest | undefined {
  const colon = value.indexOf(":");
  if (colon < 0) return undefined;
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (algorithm !== "sha256" && algorithm !== "sha512") return undefined;
  if (hex.length !== hexLength[algorithm] || !/^[a-f0-9]+$/.test(hex)) return undefined;
  return { algorithm, hex };
}

export function isDigest(value: string): boolean {
  return parseDigest(value) !== undefined;
}
