/**
 * One writer per blob download at the edge: the pull-through stream (a client's blob GET), the
 * pull-through's fetcher and the sync's fetcher all fill the same partial/ file of a digest. Each
 * append was serialised but not the append-then-complete sequence, so a second writer appended
 * the blob again behind the first one's bytes: the first one's completion failed its digest
 * check, its client's body was cut short, and the parent sent the blob twice.
 *
 * Real FsBlobStore, the real pull-through handler and the real ContentFetcher; the parent is a
 * small scripted registry that can stop a blob's body halfway (the real one cannot be paused at
 * a chosen moment) and counts the blob GETs it answers.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pullThroughEdge, type PullThroughEdge } from "../support/edge-registry.js";
import { sha256 } from "../support/registry-client.js";

/** Bigger than the store's 1 MiB write batch, so bytes are on disk while the body is held. */
const BLOB_BYTES = 3 * 1024 * 1024;
const HELD_AFTER = 2 * 1024 * 1024;

/** Serves any blob it was given (in every repository), honours Range, counts GETs, holds a body halfway on demand. */
class ScriptedParent {
  readonly blobs = new Map<string, Buffer>();
  readonly gets = new Map<string, number>();
  private readonly held = new Map<string, { arrived: () => void; release: Promise<"end" | "cut"> }>();
  private server!: Server;
  endpoint = "";

  add(): string {
    const bytes = randomBytes(BLOB_BYTES);
    const digest = sha256(bytes);
    this.blobs.set(digest, bytes);
    return digest;
  }

  /**
   * The next GET of `digest` sends HELD_AFTER bytes, then waits for `release` (the rest follows)
   * or `cut` (the connection is dropped); `arrived` resolves once those bytes are sent.
   */
  hold(digest: string): { arrived: Promise<void>; release: () => void; cut: () => void } {
    let arrived!: () => void;
    let settle!: (how: "end" | "cut") => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    this.held.set(digest, { arrived, release: new Promise<"end" | "cut">((resolve) => (settle = resolve)) });
    return { arrived: arrival, release: () => settle("end"), cut: () => settle("cut") };
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.answer(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.endpoint = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const digest = /^\/v2\/.+\/blobs\/([^/]+)$/.exec(req.url ?? "")?.[1];
    const whole = digest ? this.blobs.get(digest) : undefined;
    if (!digest || !whole) return void res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code: "BLOB_UNKNOWN", message: "unknown" }] }));
    if (req.method === "GET") this.gets.set(digest, (this.gets.get(digest) ?? 0) + 1);
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? "")?.[1] ?? 0);
    const bytes = whole.subarray(from);
    const headers = { "Content-Type": "application/octet-stream", "Content-Length": bytes.length, "Docker-Content-Digest": digest };
    if (from > 0) res.writeHead(206, { ...headers, "Content-Range": `bytes ${from}-${whole.length - 1}/${whole.length}` });
    else res.writeHead(200, headers);
    if (req.method === "HEAD") return void res.end();
    const held = this.held.get(digest);
    if (held && bytes.length > HELD_AFTER) {
      this.held.delete(digest);
      await new Promise<void>((resolve) => res.write(bytes.subarray(0, HELD_AFTER), () => resolve()));
      held.arrived();
      if ((await held.release) === "cut") return void res.destroy();
      return void res.end(bytes.subarray(HELD_AFTER));
    }
    res.end(bytes);
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function readAll(body: unknown): Promise<Buffer> {
  if (typeof body === "string" || body instanceof Uint8Array) return Buffer.from(body);
  const pieces: Uint8Array[] = [];
  for await (const piece of body as AsyncIterable<Uint8Array>) pieces.push(piece);
  return Buffer.concat(pieces);
}

describe("one writer per blob download: pull-through stream, pull-through fetcher and sync fetcher", () => {
  const parent = new ScriptedParent();
  const repository = "writers/app";
  let at: PullThroughEdge;
  let dir: string;
  let edge: PullThroughEdge["edge"];
  const fetcher = (): ReturnType<PullThroughEdge["syncFetcher"]> => at.syncFetcher();

  beforeAll(async () => {
    await parent.start();
    at = await pullThroughEdge("blob-writers", parent.endpoint, () => [repository]);
    ({ dir, edge } = at);
  });

  afterAll(async () => {
    await parent.close();
    await at?.close();
  });

  const pullBlob = (digest: string) => edge({ method: "GET", url: new URL(`http://edge/v2/${repository}/blobs/${digest}`), headers: new Headers(), body: null });
  const stored = async (digest: string): Promise<string> => sha256(await readFile(join(dir, "blobs", "sha256", digest.slice("sha256:".length))));
  const partials = async (): Promise<string[]> => readdir(join(dir, "partial")).catch(() => []);

  it("a sync download of a digest a client is streaming waits for the stream: the client gets the whole blob, the parent sends it once", async () => {
    const digest = parent.add();
    const gate = parent.hold(digest);
    const response = await pullBlob(digest);
    expect(response.status).toBe(200);
    const reading = readAll(response.body);
    reading.catch(() => {});
    await gate.arrived;
    // The stream's download is halfway: the sync wants the same blob now.
    const syncing = fetcher().ensureBlob(repository, digest, BLOB_BYTES);
    syncing.catch(() => {});
    await delay(300);
    gate.release();
    expect(sha256(await reading)).toBe(digest);
    await syncing;
    expect(await stored(digest)).toBe(digest);
    expect(parent.gets.get(digest)).toBe(1);
    expect(await partials()).toEqual([]);
  });

  it("a sync download waiting for a stream that fails downloads the blob itself: the waiter does not take a failed write for a stored blob", async () => {
    const digest = parent.add();
    const gate = parent.hold(digest);
    const response = await pullBlob(digest);
    expect(response.status).toBe(200);
    const reading = readAll(response.body);
    reading.catch(() => {});
    await gate.arrived;
    const syncing = fetcher().ensureBlob(repository, digest, BLOB_BYTES);
    syncing.catch(() => {});
    await delay(300);
    gate.cut();
    // The client sees a short body (and would retry); the sync then fetches the blob whole.
    await expect(reading).rejects.toThrow();
    await syncing;
    expect(await stored(digest)).toBe(digest);
    expect(parent.gets.get(digest)).toBe(2);
    expect(await partials()).toEqual([]);
  });

  it("a client asking for a digest the sync is downloading gets it once the sync stored it, with no second download", async () => {
    const digest = parent.add();
    const gate = parent.hold(digest);
    const syncing = fetcher().ensureBlob(repository, digest, BLOB_BYTES);
    syncing.catch(() => {});
    await gate.arrived;
    const asking = pullBlob(digest);
    await delay(300);
    gate.release();
    await syncing;
    const response = await asking;
    expect(response.status).toBe(200);
    expect(sha256(await readAll(response.body))).toBe(digest);
    expect(parent.gets.get(digest)).toBe(1);
    expect(await partials()).toEqual([]);
  });

  it("two fetchers (the sync's and the pull-through's deferred store) over one store download a digest once", async () => {
    const digest = parent.add();
    const gate = parent.hold(digest);
    const first = fetcher().ensureBlob(repository, digest, BLOB_BYTES);
    first.catch(() => {});
    await gate.arrived;
    const second = fetcher().ensureBlob(repository, digest, BLOB_BYTES);
    second.catch(() => {});
    await delay(300);
    gate.release();
    await Promise.all([first, second]);
    expect(await stored(digest)).toBe(digest);
    expect(parent.gets.get(digest)).toBe(1);
    expect(await partials()).toEqual([]);
  });
});
