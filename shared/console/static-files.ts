/**
 * GET /console/...: the web console's static files (built into dist/console by `npm run build`,
 * scripts/bundle-console.ts). The console is only a client of the management API; this serves
 * files and nothing else. Asset names carry a content hash, so they are cached for good; the
 * index is revalidated every time so a new build is picked up at the next load.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { jsonErrorResponse } from "../http/json-error.js";
import type { Handler, HandlerResponse } from "../http/types.js";

/** dist/shared/console/ -> dist/console/ */
const DEFAULT_ROOT = fileURLToPath(new URL("../../console/", import.meta.url));

/**
 * No inline script or style, nothing from another origin, no framing (clickjacking on the
 * actions), no <base> or plugin tricks. The console calls only its own origin's /management/.
 */
export const CONSOLE_SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
};

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
};

/** `app-<hash>.js`: the bundler names assets by content (scripts/bundle-console.ts). */
const HASHED_ASSET = /^assets\/[a-z]+-[A-Z0-9]{8,}\.[a-z]+$/;

type ConsoleFile = { body: Uint8Array; contentType: string; cacheControl: string };

export function createConsoleHandler(root: string = DEFAULT_ROOT): Handler {
  let files: Promise<Map<string, ConsoleFile>> | undefined;
  return async (request) => {
    const path = request.url.pathname;
    // Relative asset URLs and the hash router need the trailing slash.
    if (path === "/console") return { status: 308, headers: { Location: "/console/", ...CONSOLE_SECURITY_HEADERS } };
    const name = path.slice("/console/".length) || "index.html";
    files ??= loadFiles(root).catch((error: unknown) => {
      files = undefined;
      throw error;
    });
    let loaded: Map<string, ConsoleFile>;
    try {
      loaded = await files;
    } catch {
      return jsonErrorResponse(404, "NotFound", "the web console is not built here: run `npm run build` (it writes dist/console)");
    }
    const file = loaded.get(name);
    if (!file) return jsonErrorResponse(404, "NotFound", `no console file at ${path}`);
    return respond(file, request.method === "HEAD");
  };
}

function respond(file: ConsoleFile, head: boolean): HandlerResponse {
  return {
    status: 200,
    headers: { "Content-Type": file.contentType, "Cache-Control": file.cacheControl, "Content-Length": String(file.body.byteLength), ...CONSOLE_SECURITY_HEADERS },
    ...(head ? {} : { body: file.body }),
  };
}

/** The whole build is a few tens of KiB: read once, serve from memory. */
async function loadFiles(root: string): Promise<Map<string, ConsoleFile>> {
  const files = new Map<string, ConsoleFile>();
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const name = relative(root, path).split(sep).join("/");
    const contentType = CONTENT_TYPES[name.slice(name.lastIndexOf(".") + 1)];
    if (!contentType) continue;
    files.set(name, {
      body: await readFile(path),
      contentType,
      cacheControl: HASHED_ASSET.test(name) ? "public, max-age=31536000, immutable" : "no-cache",
    });
  }
  if (!files.has("index.html")) throw new Error(`no index.html in ${root}`);
  return files;
}
