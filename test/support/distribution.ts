/**
 * Real source registries for the import tests: CNCF distribution (`docker-registry` from
 * Debian) on a free loopback port with filesystem storage in a temporary folder, anonymous
 * or behind htpasswd (Basic) auth; and a small Bearer-token proxy in front of one, which
 * answers the token challenge Docker Hub and ACR answer (401 with
 * `WWW-Authenticate: Bearer realm=...`, a token server, then the Distribution API). Also
 * pass-through proxies that make a source slow, or misbehave (startFaultProxy).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcryptjs";

const BINARY = "/usr/bin/docker-registry";
const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

export interface Credentials {
  username: string;
  password: string;
}

export interface DistributionRegistry {
  /** http://127.0.0.1:<port> */
  url: string;
  /** 127.0.0.1:<port>, as an image reference names it. */
  host: string;
  /** Stops the registry and removes its folder (storage included). */
  stop(): Promise<void>;
}

export interface BearerProxy {
  url: string;
  host: string;
  stop(): Promise<void>;
  /** GET/POST /token requests received, accepted or not. */
  readonly tokenRequests: number;
  /** Every `scope` asked for at /token, in order. */
  readonly requestedScopes: string[];
}

export async function startDistributionRegistry(options: { htpasswd?: Credentials } = {}): Promise<DistributionRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "docker-registry-"));
  const port = await freePort();
  const root = join(dir, "storage");
  await mkdir(root, { recursive: true });
  const auth: string[] = [];
  if (options.htpasswd) {
    const htpasswdFile = join(dir, "htpasswd");
    // distribution reads bcrypt entries only; cost 5 keeps every request's check cheap.
    const hash = await bcrypt.hash(options.htpasswd.password, 5);
    await writeFile(htpasswdFile, `${options.htpasswd.username}:${hash}\n`);
    auth.push("auth:", "  htpasswd:", "    realm: import-tests", `    path: ${htpasswdFile}`);
  }
  const configFile = join(dir, "config.yml");
  await writeFile(
    configFile,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  cache:",
      "    blobdescriptor: inmemory",
      "  filesystem:",
      `    rootdirectory: ${root}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "  secret: test-only-secret",
      ...auth,
      "",
    ].join("\n"),
  );

  const child = spawn(BINARY, ["serve", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (hasExited(child)) throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`);
      // 401 is an answer too: the htpasswd registry challenges /v2/.
      const status = await fetch(`${url}/v2/`).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status;
        },
        () => 0,
      );
      if (status === 200 || status === 401) break;
      if (Date.now() > deadline) throw new Error(`docker-registry was not ready within ${START_TIMEOUT_MS / 1000} s: ${stderr.trim()}`);
      await sleep(100);
    }
    return { url, host: `127.0.0.1:${port}`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * A registry front that requires the Bearer token flow: requests without a valid token get
 * 401 and a challenge naming `<proxy>/token`; /token checks Basic credentials and issues a
 * random token (valid 300 s); requests with a token are proxied to `upstreamUrl` (an
 * anonymous docker-registry) with bodies streamed and status, headers and Range passed
 * through. The Host header goes upstream unchanged, so Location headers name the proxy.
 */
export async function startBearerProxy(upstreamUrl: string, credentials: Credentials): Promise<BearerProxy> {
  const upstream = new URL(upstreamUrl);
  const tokens = new Map<string, number>();
  const requestedScopes: string[] = [];
  let tokenRequests = 0;
  let self = "";

  const issueToken = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    tokenRequests++;
    let username: string | undefined;
    let password: string | undefined;
    const scopes = url.searchParams.getAll("scope");
    const authorization = req.headers.authorization ?? "";
    if (/^basic /i.test(authorization)) {
      const decoded = Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon >= 0) {
        username = decoded.slice(0, colon);
        password = decoded.slice(colon + 1);
      }
    }
    if (req.method === "POST") {
      // The OAuth2 password grant some clients use instead of GET with Basic.
      const form = new URLSearchParams(await readText(req));
      username ??= form.get("username") ?? undefined;
      password ??= form.get("password") ?? undefined;
      scopes.push(...form.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean));
    } else {
      req.resume();
    }
    requestedScopes.push(...scopes);
    if (username !== credentials.username || password !== credentials.password) {
      sendJson(res, 401, { errors: [{ code: "UNAUTHORIZED", message: "invalid username or password" }] }, { "WWW-Authenticate": `Basic realm="${self}/token"` });
      return;
    }
    const token = randomBytes(24).toString("hex");
    tokens.set(token, Date.now() + 300_000);
    sendJson(res, 200, { token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() });
  };

  const authorized = (req: IncomingMessage): boolean => {
    const match = /^bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    const expires = match ? tokens.get(match[1]!) : undefined;
    return expires !== undefined && expires > Date.now();
  };

  const challenge = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    req.resume();
    const name = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1];
    const scope = name ? `,scope="repository:${name}:pull"` : "";
    sendJson(res, 401, { errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }, {
      "WWW-Authenticate": `Bearer realm="${self}/token",service="test"${scope}`,
      "Docker-Distribution-Api-Version": "registry/2.0",
    });
  };

  const proxy = (req: IncomingMessage, res: ServerResponse): void => {
    const headers: OutgoingHttpHeaders = { ...req.headers };
    delete headers.authorization;
    const upstreamRequest = httpRequest(
      { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (upstreamResponse) => {
        res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.pipe(res);
        upstreamResponse.once("error", () => res.destroy());
      },
    );
    upstreamRequest.once("error", (error) => {
      if (!res.headersSent) sendJson(res, 502, { errors: [{ code: "UNKNOWN", message: `upstream: ${error.message}` }] });
      else res.destroy();
    });
    req.pipe(upstreamRequest);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    if (url.pathname === "/token") {
      issueToken(req, res, url).catch(() => res.destroy());
    } else if (!authorized(req)) {
      challenge(req, res, url);
    } else {
      proxy(req, res);
    }
  });
  const port = await listen(server);
  self = `http://127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;
  return {
    url: self,
    host: `127.0.0.1:${port}`,
    get tokenRequests() {
      return tokenRequests;
    },
    requestedScopes,
    stop: () => (stopping ??= closeServer(server)),
  };
}

export interface SlowProxy {
  url: string;
  host: string;
  stop(): Promise<void>;
  /** Requests that came with a Range header (a client resuming a blob). */
  readonly rangeRequests: number;
}

/**
 * A plain pass-through in front of a registry that sends response bodies no faster than
 * `bytesPerSecond` (all responses together): a slow source, so that a test can act while a
 * copy is surely still running. Status, headers and Range go through unchanged.
 */
export async function startSlowProxy(upstreamUrl: string, bytesPerSecond: number): Promise<SlowProxy> {
  const upstream = new URL(upstreamUrl);
  let rangeRequests = 0;
  // One schedule shared by every response: the proxy as a whole is the slow link.
  let nextFreeAt = Date.now();
  const server = createServer((req, res) => {
    if (req.headers.range) rangeRequests++;
    const upstreamRequest = httpRequest(
      { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (upstreamResponse) => {
        res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.on("data", (chunk: Buffer) => {
          if (res.destroyed) return;
          nextFreeAt = Math.max(nextFreeAt, Date.now()) + (chunk.length / bytesPerSecond) * 1000;
          const delay = nextFreeAt - Date.now();
          if (!res.write(chunk) || delay > 0) {
            upstreamResponse.pause();
            setTimeout(() => (res.writableNeedDrain ? res.once("drain", () => upstreamResponse.resume()) : upstreamResponse.resume()), Math.max(0, delay));
          }
        });
        upstreamResponse.once("end", () => res.end());
        upstreamResponse.once("error", () => res.destroy());
        res.once("close", () => upstreamResponse.destroy());
      },
    );
    upstreamRequest.once("error", (error) => {
      if (!res.headersSent) sendJson(res, 502, { errors: [{ code: "UNKNOWN", message: `upstream: ${error.message}` }] });
      else res.destroy();
    });
    req.pipe(upstreamRequest);
  });
  const port = await listen(server);
  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    get rangeRequests() {
      return rangeRequests;
    },
    stop: () => (stopping ??= closeServer(server)),
  };
}

/** What a fault proxy does to the traffic it passes (each fault is off unless given). */
export interface ProxyFaults {
  /**
   * The first `times` GETs (default 1) of this blob stop after `afterBytes` bytes of their
   * body (of a 2xx answer): the proxy writes them and closes the connection.
   */
  cutBlob?: { digest: string; afterBytes: number; times?: number };
  /** The same for the manifest GETs whose reference (tag or digest) is `reference`. */
  cutManifest?: { reference: string; afterBytes: number; times?: number };
  /** Range headers are dropped on the way to the registry: every blob GET answers 200 with the whole blob. */
  ignoreRange?: boolean;
  /** Every GET of this blob has the byte at `offset` of the blob flipped (the length stays the same). */
  corruptBlob?: { digest: string; offset: number };
  /**
   * Manifest GETs (every one with true; with a list, those whose reference, tag or digest, is
   * in it) get a trailing newline in their body: still the same JSON, another digest, while
   * Docker-Content-Digest still names the registry's own digest.
   */
  tamperManifests?: boolean | string[];
  /** Every blob GET answers this status (e.g. 503) with a Distribution error body, without reaching the registry. */
  failBlobsWith?: number;
}

/** One request a fault proxy received, and what it answered. */
export interface ProxiedRequest {
  method: string;
  /** Path and query, as received. */
  path: string;
  /** The Range header the client sent, if any. */
  range: string | undefined;
  /** The status answered (0 until the answer starts). */
  status: number;
  /** Body bytes written to the client so far. */
  bytesSent: number;
  /** The proxy closed the connection before the body was complete (cutBlob, cutManifest). */
  cut: boolean;
}

export interface FaultProxy {
  url: string;
  host: string;
  /** Every request received, in order of arrival. */
  readonly requests: ProxiedRequest[];
  /** The received GETs of one blob, in order. */
  blobGets(digest: string): ProxiedRequest[];
  stop(): Promise<void>;
}

/**
 * A pass-through in front of a registry that misbehaves as `faults` says: a connection
 * dropped mid-blob or mid-manifest, Range ignored, a blob's bytes corrupted, manifest bytes
 * that do not match their Docker-Content-Digest, or blob GETs refused with a 5xx. Everything
 * else (status, headers, Range, Host) goes through unchanged, and every request is recorded.
 */
export async function startFaultProxy(upstreamUrl: string, faults: ProxyFaults): Promise<FaultProxy> {
  const upstream = new URL(upstreamUrl);
  const requests: ProxiedRequest[] = [];
  let blobCuts = 0;
  let manifestCuts = 0;
  const blobDigestOf = (path: string): string | undefined => /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})(?:\?|$)/.exec(path)?.[1];
  const manifestReferenceOf = (path: string): string | undefined => /^\/v2\/.+\/manifests\/([^/?]+)(?:\?|$)/.exec(path)?.[1];

  const server = createServer((req, res) => {
    const path = req.url ?? "/";
    const record: ProxiedRequest = { method: req.method ?? "GET", path, range: req.headers.range, status: 0, bytesSent: 0, cut: false };
    requests.push(record);
    const blobDigest = req.method === "GET" ? blobDigestOf(path) : undefined;

    if (blobDigest !== undefined && faults.failBlobsWith !== undefined) {
      req.resume();
      record.status = faults.failBlobsWith;
      sendJson(res, faults.failBlobsWith, { errors: [{ code: "UNAVAILABLE", message: "service unavailable (fault proxy)" }] });
      return;
    }

    const headers: OutgoingHttpHeaders = { ...req.headers };
    if (faults.ignoreRange) delete headers.range;
    const reference = req.method === "GET" ? manifestReferenceOf(path) : undefined;
    let cut: { afterBytes: number } | undefined;
    if (blobDigest !== undefined && faults.cutBlob?.digest === blobDigest && blobCuts < (faults.cutBlob.times ?? 1)) {
      blobCuts++;
      cut = faults.cutBlob;
    } else if (reference !== undefined && faults.cutManifest && decodeURIComponent(reference) === faults.cutManifest.reference && manifestCuts < (faults.cutManifest.times ?? 1)) {
      manifestCuts++;
      cut = faults.cutManifest;
    }
    const corrupt = blobDigest !== undefined && faults.corruptBlob?.digest === blobDigest ? faults.corruptBlob : undefined;
    const tamper =
      reference !== undefined && (faults.tamperManifests === true || (Array.isArray(faults.tamperManifests) && faults.tamperManifests.includes(decodeURIComponent(reference))));

    const upstreamRequest = httpRequest(
      { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: req.method, path, headers },
      (upstreamResponse) => {
        const status = upstreamResponse.statusCode ?? 502;
        record.status = status;
        if (tamper && status === 200 && !cut) {
          const chunks: Buffer[] = [];
          upstreamResponse.on("data", (chunk: Buffer) => chunks.push(chunk));
          upstreamResponse.once("end", () => {
            const body = Buffer.concat([...chunks, Buffer.from("\n")]);
            res.writeHead(status, { ...upstreamResponse.headers, "content-length": String(body.length) });
            record.bytesSent = body.length;
            res.end(body);
          });
          upstreamResponse.once("error", () => res.destroy());
          return;
        }
        res.writeHead(status, upstreamResponse.headers);
        // Where the body starts within the blob: a 206 names it in Content-Range.
        let position = Number(/^bytes (\d+)-/.exec(String(upstreamResponse.headers["content-range"] ?? ""))?.[1] ?? 0);
        let sent = 0;
        upstreamResponse.on("data", (data: Buffer) => {
          if (res.destroyed || record.cut) return;
          let chunk = data;
          if (corrupt && status >= 200 && status < 300 && corrupt.offset >= position && corrupt.offset < position + chunk.length) {
            chunk = Buffer.from(chunk);
            chunk[corrupt.offset - position] = chunk[corrupt.offset - position]! ^ 0xff;
          }
          position += data.length;
          if (cut && status >= 200 && status < 300 && sent + chunk.length >= cut.afterBytes) {
            // The last bytes before the cut, then the connection closes once they are written.
            const last = chunk.subarray(0, cut.afterBytes - sent);
            record.cut = true;
            record.bytesSent = sent + last.length;
            upstreamResponse.destroy();
            res.write(last, () => res.socket?.destroySoon());
            return;
          }
          sent += chunk.length;
          record.bytesSent = sent;
          if (!res.write(chunk)) {
            upstreamResponse.pause();
            res.once("drain", () => upstreamResponse.resume());
          }
        });
        upstreamResponse.once("end", () => {
          if (!record.cut) res.end();
        });
        upstreamResponse.once("error", () => {
          if (!record.cut) res.destroy();
        });
        res.once("close", () => upstreamResponse.destroy());
      },
    );
    upstreamRequest.once("error", (error) => {
      if (!res.headersSent) sendJson(res, 502, { errors: [{ code: "UNKNOWN", message: `upstream: ${error.message}` }] });
      else res.destroy();
    });
    req.pipe(upstreamRequest);
  });
  const port = await listen(server);
  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    blobGets: (digest) => requests.filter((request) => request.method === "GET" && blobDigestOf(request.path) === digest),
    stop: () => (stopping ??= closeServer(server)),
  };
}

/** An HTTP server that is not a registry: every path, /v2/ included, answers 404 with an HTML page. */
export async function startNotARegistry(): Promise<{ url: string; host: string; stop(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    const body = "<!doctype html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n";
    res.writeHead(404, { "Content-Type": "text/html; charset=utf-8", "Content-Length": Buffer.byteLength(body) }).end(body);
  });
  const port = await listen(server);
  let stopping: Promise<void> | undefined;
  return { url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, stop: () => (stopping ??= closeServer(server)) };
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), ...headers }).end(body);
}

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (hasExited(child) || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
