/**
 * Splits the path under /v2/ into the resource it names. Repository names contain
 * slashes, so the path is read from its end: the last segments say what is asked for,
 * everything before them is the name. Segments are decoded one by one, so an encoded
 * "/" (%2F) stays inside its segment and cannot forge a different route.
 */
import { RegistryError } from "../domain/registry-errors.js";

export type V2Target =
  | { kind: "base" }
  | { kind: "catalog" }
  | { kind: "tags"; name: string }
  | { kind: "manifest"; name: string; reference: string }
  | { kind: "blob"; name: string; digest: string }
  | { kind: "uploads"; name: string }
  | { kind: "upload"; name: string; id: string }
  | { kind: "referrers"; name: string; digest: string };

/** `pathname` is the URL path as sent, e.g. "/v2/library/alpine/manifests/3.20". */
export function parseV2Path(pathname: string): V2Target | undefined {
  if (pathname !== "/v2" && !pathname.startsWith("/v2/")) return undefined;
  const segments = pathname.slice(4).split("/").map(decodeSegment);
  if (segments.length > 0 && segments[segments.length - 1] === "") segments.pop();
  if (segments.length === 0) return { kind: "base" };
  if (segments.length === 1 && segments[0] === "_catalog") return { kind: "catalog" };

  const from = (count: number): string[] => segments.slice(segments.length - count);
  const nameBefore = (count: number): string => segments.slice(0, segments.length - count).join("/");
  const hasName = (count: number): boolean => segments.length > count;
  const [last2, last1] = from(2);
  const last3 = segments[segments.length - 3];

  if (hasName(2) && last2 === "tags" && last1 === "list") return { kind: "tags", name: nameBefore(2) };
  if (hasName(2) && last2 === "manifests") return { kind: "manifest", name: nameBefore(2), reference: last1! };
  if (hasName(2) && last2 === "blobs" && last1 === "uploads") return { kind: "uploads", name: nameBefore(2) };
  if (hasName(3) && last3 === "blobs" && last2 === "uploads") return { kind: "upload", name: nameBefore(3), id: last1! };
  if (hasName(2) && last2 === "blobs") return { kind: "blob", name: nameBefore(2), digest: last1! };
  if (hasName(2) && last2 === "referrers") return { kind: "referrers", name: nameBefore(2), digest: last1! };
  return undefined;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RegistryError("NAME_INVALID", `the request path segment "${segment}" is not valid percent-encoding`);
  }
}
