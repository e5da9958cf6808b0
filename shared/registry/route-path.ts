/**
 * Splits the path under /v2/ into the resource it names. Repository names contain
 * slashes, so the path is read from its end: the last segments say what is asked for,
 * everything before them is the name.
 */
import { RegistryError } from "./errors.js";

export type V2Target =
  | { kind: "base" }
  | { kind: "catalog" }
  | { kind: "tags"; name: string }
  | { kind: "manifest"; name: string; reference: string }
  | { kind: "blob"; name: string; digest: string }
  | { kind: "uploads"; name: string }
  | { kind: "upload"; name: string; id: string }
  | { kind: "referrers"; name: string; digest: string };

const patterns: Array<[RegExp, (m: RegExpMatchArray) => V2Target]> = [
  [/^(.+)\/tags\/list$/, (m) => ({ kind: "tags", name: m[1]! })],
  [/^(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: "manifest", name: m[1]!, reference: m[2]! })],
  [/^(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: "uploads", name: m[1]! })],
  [/^(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: "upload", name: m[1]!, id: m[2]! })],
  [/^(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: "blob", name: m[1]!, digest: m[2]! })],
  [/^(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: "referrers", name: m[1]!, digest: m[2]! })],
];

/** `pathname` is the URL path as sent, e.g. "/v2/library/alpine/manifests/3.20". */
export function parseV2Path(pathname: string): V2Target | undefined {
  if (!pathname.startsWith("/v2")) return undefined;
  let rest: string;
  try {
    rest = decodeURIComponent(pathname.slice(3));
  } catch {
    throw new RegistryError("NAME_INVALID", "the request path is not valid percent-encoding", { status: 400 });
  }
  rest = rest.replace(/^\/+/, "");
  if (rest === "") return { kind: "base" };
  if (rest === "_catalog") return { kind: "catalog" };
  for (const [pattern, build] of patterns) {
    const match = rest.match(pattern);
    if (match) return build(match);
  }
  return undefined;
}
