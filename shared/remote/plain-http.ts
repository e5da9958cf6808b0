/**
 * GET over plain HTTP/1.1 with the body read straight into the caller's buffers: the edge
 * agent's blob downloads from a parent (or its storage) on a plain-HTTP network.
 *
 * Why not node:http for these: its client hands every socket read to JavaScript as a new
 * Buffer, and its parser copies each body piece into another one. A 200 MiB first sync made
 * 400 MiB of short-lived buffers that lived until the next garbage collection, so the process
 * kept touching fresh memory, which is dear on a VM. Here the socket reads into buffers the
 * caller owns and reuses (net.Socket's `onread`), and nothing per read is allocated: the
 * agent's CPU for that sync went down by 13%.
 *
 * Only what a blob GET needs: GET, no request body, keep-alive connections pooled per origin,
 * bodies framed by Content-Length, chunked encoding or the connection's end. HTTPS and proxied
 * origins stay on node:https/undici (http-client.ts decides).
 */
import net from "node:net";
import { Readable } from "node:stream";
import { RemoteUnreachableError } from "./errors.js";

/** A body read into the caller's buffers: the edge's blob store takes one (appendPartial). */
export interface BufferReader {
  /**
   * Reads the next body bytes into `target` and resolves with how many: `target` is filled
   * unless the body ends first (0 once it has ended). Bytes that arrived before the connection
   * failed are returned first; the failure comes with the next call.
   */
  readInto(target: Uint8Array): Promise<number>;
}

export interface PlainHttpResponse extends BufferReader {
  status: number;
  /** Names lower-case; a repeated header's values in an array. */
  headers: Record<string, string | string[]>;
  /** The body as a stream, for small bodies (errors, redirects); use one of the two readers. */
  readonly body: Readable;
}

/** Read buffer for headers and for chunked framing; response headers larger than this are refused. */
const SCRATCH_BYTES = 64 * 1024;
const MAX_LINE_BYTES = 8 * 1024;
const CRLFCRLF = Buffer.from("\r\n\r\n");

/** One origin's connections: idle ones to reuse, how many are open (idle or busy), and requests waiting for one. */
interface Origin {
  idle: Connection[];
  open: number;
  waiting: Array<() => void>;
}

export class PlainHttpPool {
  private readonly origins = new Map<string, Origin>();
  private closed = false;

  constructor(private readonly options: { maxSockets: number; timeoutMs: number }) {}

  /** Sends a GET for `url` (http:) with these headers (Host is added) and resolves when its response headers are in. */
  async get(url: URL, headers: Record<string, string>): Promise<PlainHttpResponse> {
    if (url.protocol !== "http:") throw new Error(`plain HTTP only, not ${url.protocol}`);
    const what = `GET ${url.origin}${url.pathname}`;
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
    for (const [name, value] of Object.entries(headers)) {
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`${what}: header ${name} has a line break`);
      lines.push(`${name}: ${value}`);
    }
    const request = `${lines.join("\r\n")}\r\n\r\n`;
    const origin = this.originOf(url);
    for (let attempt = 0; ; attempt++) {
      const connection = await this.take(url, origin, what);
      try {
        return await connection.exchange(request, what);
      } catch (error) {
        // A kept-alive connection the server had closed meanwhile: safe to ask again once.
        if (error instanceof StaleConnection && attempt === 0) continue;
        throw error instanceof StaleConnection ? error.cause : error;
      }
    }
  }

  /** Closes every idle connection; connections in use close when their response ends. */
  close(): void {
    this.closed = true;
    for (const origin of this.origins.values()) {
      for (const connection of origin.idle.splice(0)) connection.destroy();
    }
  }

  private originOf(url: URL): Origin {
    let origin = this.origins.get(url.host);
    if (!origin) {
      origin = { idle: [], open: 0, waiting: [] };
      this.origins.set(url.host, origin);
    }
    return origin;
  }

  private async take(url: URL, origin: Origin, what: string): Promise<Connection> {
    for (;;) {
      const idle = origin.idle.pop();
      if (idle) return idle;
      if (origin.open < this.options.maxSockets) break;
      await new Promise<void>((resolve) => origin.waiting.push(resolve));
    }
    origin.open++;
    const connection: Connection = new Connection(url, what, this.options.timeoutMs, {
      reusable: (done) => {
        if (this.closed) return done.destroy();
        const waiter = origin.waiting.shift();
        origin.idle.push(done);
        waiter?.();
      },
      gone: (dead) => {
        origin.open--;
        const at = origin.idle.indexOf(dead);
        if (at >= 0) origin.idle.splice(at, 1);
        origin.waiting.shift()?.();
      },
    });
    await connection.connected;
    return connection;
  }
}

/** A kept-alive connection that turned out closed before any byte of the answer came back. */
class StaleConnection extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

type Framing = { kind: "length"; remaining: number } | { kind: "chunked"; state: "size" | "data" | "data-end" | "trailer"; left: number } | { kind: "close" } | { kind: "none" };

/**
 * One keep-alive connection. Socket reads land in `scratch` (headers, chunked framing, bytes
 * that come before a reader) or, for a body framed by length or by the connection's end while
 * a reader waits, straight in the reader's buffer.
 */
class Connection {
  readonly connected: Promise<void>;
  private readonly socket: net.Socket;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  /** Unread bytes in scratch: [start, end). */
  private start = 0;
  private end = 0;
  private phase: "idle" | "head" | "body" | "dead" = "idle";
  private used = false;
  private answered = false;
  private framing: Framing = { kind: "none" };
  private keepAlive = true;
  private line = "";
  /** The read in progress: its buffer, how much of it is filled, and its promise's ends. */
  private target: Uint8Array | undefined;
  private filled = 0;
  private readIntoTarget = false;
  private settleRead: { resolve(n: number): void; reject(error: Error): void } | undefined;
  private settleHead: { resolve(response: PlainHttpResponse): void; reject(error: Error): void } | undefined;
  private failure: Error | undefined;
  /** Why the connection ended, for a connect that never completed. */
  private lastError: Error | undefined;
  private bodyEnded = false;
  /** Counts responses: a response's readers do nothing once its connection carries the next one. */
  private generation = 0;

  constructor(
    url: URL,
    /** The request under way, for messages ("GET origin/path"): set again by each exchange. */
    private what: string,
    private readonly timeoutMs: number,
    private readonly pool: { reusable(connection: Connection): void; gone(connection: Connection): void },
  ) {
    this.socket = net.connect({
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: Number(url.port || 80),
      noDelay: true,
      onread: { buffer: () => this.nextReadBuffer(), callback: (bytes: number) => this.onRead(bytes) },
    });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once("connect", resolve);
      // Whatever ended it (refused, unreachable, no answer within timeoutMs), close comes last.
      this.socket.once("close", () => reject(this.lastError ?? new RemoteUnreachableError(`${this.what}: connection closed`, "ECONNRESET")));
    });
    this.connected.catch(() => undefined);
    this.socket.setTimeout(timeoutMs, () => this.fail(new RemoteUnreachableError(`${this.what}: no data for ${this.timeoutMs} ms`, "ETIMEDOUT")));
    this.socket.on("error", (error: NodeJS.ErrnoException) => this.fail(new RemoteUnreachableError(`${this.what} failed: ${error.code ?? error.message}`, error.code, { cause: error })));
    this.socket.on("end", () => this.onEnd());
    this.socket.on("close", () => {
      if (this.phase !== "dead") this.fail(new RemoteUnreachableError(`${this.what}: connection closed`, "ECONNRESET"));
    });
  }

  /** Sends the request and resolves with the response once its headers are in. */
  exchange(request: string, what: string): Promise<PlainHttpResponse> {
    this.what = what;
    const reused = this.used;
    this.used = true;
    this.phase = "head";
    this.answered = false;
    this.socket.ref();
    this.socket.setTimeout(this.timeoutMs);
    return new Promise<PlainHttpResponse>((resolve, reject) => {
      this.settleHead = {
        resolve,
        reject: (error) => reject(reused && !this.answered ? new StaleConnection(error) : error),
      };
      this.socket.write(request);
      this.socket.resume();
    });
  }

  destroy(): void {
    if (this.phase === "dead") return;
    this.phase = "dead";
    this.socket.destroy();
    this.pool.gone(this);
  }

  /** Where the next socket read goes (called by net after each read, and once at connect). */
  private nextReadBuffer(): Uint8Array {
    const target = this.target;
    if (this.phase === "body" && target && this.start === this.end && (this.framing.kind === "length" || this.framing.kind === "close")) {
      const limit = this.framing.kind === "length" ? Math.min(target.length, this.filled + this.framing.remaining) : target.length;
      if (limit > this.filled) {
        this.readIntoTarget = true;
        return target.subarray(this.filled, limit);
      }
    }
    this.readIntoTarget = false;
    if (this.start === this.end) this.start = this.end = 0;
    else if (this.end === this.scratch.length) {
      this.scratch.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    return this.scratch.subarray(this.end);
  }

  private onRead(bytes: number): boolean {
    this.answered = true;
    if (this.readIntoTarget) {
      this.filled += bytes;
      if (this.framing.kind === "length") this.framing.remaining -= bytes;
    } else {
      this.end += bytes;
    }
    try {
      this.advance();
    } catch (error) {
      this.fail(error as Error);
      return false;
    }
    // Pause when a body's bytes have no reader: they would pile up in scratch. Between
    // responses the socket reads on, to see the server close it.
    return this.phase !== "body" || this.target !== undefined;
  }

  /** Moves the state on with what has arrived: headers parsed, body bytes given to the reader. */
  private advance(): void {
    if (this.phase === "idle" && this.end > this.start) throw new Error(`${this.what}: bytes from the server between responses`);
    if (this.phase === "head") this.readHead();
    if (this.phase !== "body") return;
    if (this.target) this.fillTarget();
    if (this.bodyComplete()) this.finishBody();
    else if (this.target && this.filled === this.target.length) this.settle(this.filled);
  }

  private readHead(): void {
    for (;;) {
      const at = this.scratch.subarray(this.start, this.end).indexOf(CRLFCRLF);
      if (at < 0) {
        if (this.end - this.start >= SCRATCH_BYTES - 1) throw new Error(`${this.what}: response headers larger than ${SCRATCH_BYTES} bytes`);
        return;
      }
      const head = this.scratch.toString("latin1", this.start, this.start + at);
      this.start += at + 4;
      const [statusLine = "", ...headerLines] = head.split("\r\n");
      const status = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(statusLine);
      if (!status) throw new Error(`${this.what}: not an HTTP/1.x response (${JSON.stringify(statusLine.slice(0, 40))})`);
      const code = Number(status[2]);
      if (code >= 100 && code < 200) continue; // 100 Continue and the like: the real answer follows
      const headers: Record<string, string | string[]> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(":");
        if (colon <= 0 || line.startsWith(" ") || line.startsWith("\t")) throw new Error(`${this.what}: malformed response header line`);
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        const before = headers[name];
        headers[name] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value];
      }
      this.framing = framingOf(code, headers, this.what);
      const connection = String(headers["connection"] ?? "").toLowerCase();
      this.keepAlive = status[1] === "1" ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
      this.phase = "body";
      this.bodyEnded = false;
      this.generation++;
      const settle = this.settleHead;
      this.settleHead = undefined;
      settle?.resolve(this.response(code, headers));
      return;
    }
  }

  /** Copies body bytes waiting in scratch into the reader's buffer (the only copy: bytes read before a reader came, and chunked framing). */
  private fillTarget(): void {
    const target = this.target!;
    const framing = this.framing;
    while (this.start < this.end && this.filled < target.length) {
      if (framing.kind === "length" || framing.kind === "close") {
        let count = Math.min(this.end - this.start, target.length - this.filled);
        if (framing.kind === "length") {
          if (this.end - this.start > framing.remaining) throw new Error(`${this.what}: more bytes than its Content-Length`);
          count = Math.min(count, framing.remaining);
          framing.remaining -= count;
        }
        this.scratch.copy(target, this.filled, this.start, this.start + count);
        this.filled += count;
        this.start += count;
      } else if (framing.kind === "chunked") {
        if (framing.state === "data") {
          const count = Math.min(this.end - this.start, target.length - this.filled, framing.left);
          this.scratch.copy(target, this.filled, this.start, this.start + count);
          this.filled += count;
          this.start += count;
          framing.left -= count;
          if (framing.left === 0) framing.state = "data-end";
          continue;
        }
        const line = this.takeLine();
        if (line === undefined) return;
        if (framing.state === "size") {
          const size = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(line);
          if (!size) throw new Error(`${this.what}: malformed chunk size`);
          framing.left = parseInt(size[1]!, 16);
          framing.state = framing.left === 0 ? "trailer" : "data";
        } else if (framing.state === "data-end") {
          if (line !== "") throw new Error(`${this.what}: chunk longer than its size`);
          framing.state = "size";
        } else if (line === "") {
          this.bodyEnded = true; // the blank line after the trailers
          return;
        }
      } else {
        return;
      }
    }
  }

  /** A CRLF-terminated line from scratch, or undefined until its end arrives. */
  private takeLine(): string | undefined {
    const newline = this.scratch.subarray(this.start, this.end).indexOf(10);
    if (newline < 0) {
      this.line += this.scratch.toString("latin1", this.start, this.end);
      this.start = this.end;
      if (this.line.length > MAX_LINE_BYTES) throw new Error(`${this.what}: chunked framing line longer than ${MAX_LINE_BYTES} bytes`);
      return undefined;
    }
    const line = (this.line + this.scratch.toString("latin1", this.start, this.start + newline)).replace(/\r$/, "");
    this.line = "";
    this.start += newline + 1;
    return line;
  }

  private bodyComplete(): boolean {
    if (this.bodyEnded) return true;
    if (this.framing.kind === "none") return true;
    if (this.framing.kind === "length") return this.framing.remaining === 0;
    return false;
  }

  private finishBody(): void {
    this.bodyEnded = true;
    const reusable = this.keepAlive && this.framing.kind !== "close" && this.start === this.end;
    this.framing = { kind: "none" };
    this.phase = reusable ? "idle" : this.phase;
    const filled = this.filled;
    const read = this.takeRead();
    if (reusable) {
      this.socket.setTimeout(0);
      this.socket.unref();
      this.socket.resume();
      this.pool.reusable(this);
    } else {
      this.destroy();
    }
    read?.resolve(filled);
  }

  private settle(filled: number): void {
    this.takeRead()?.resolve(filled);
  }

  /** Ends the read in progress, if any: returns its promise's ends, with its buffer let go. */
  private takeRead(): { resolve(n: number): void; reject(error: Error): void } | undefined {
    const read = this.settleRead;
    this.settleRead = undefined;
    this.target = undefined;
    this.filled = 0;
    return read;
  }

  private onEnd(): void {
    if (this.phase === "body" && this.framing.kind === "close") {
      this.bodyEnded = true;
      this.keepAlive = false;
      if (this.target) this.fillTarget();
      if (this.start === this.end) this.finishBody();
      return;
    }
    if (this.phase === "idle") return this.destroy();
    this.fail(new RemoteUnreachableError(`${this.what}: the server closed the connection ${this.phase === "head" ? "before answering" : "mid-body"}`, "ECONNRESET"));
  }

  /** Ends the connection with this error: the pending header wait or read rejects with it (a read that has bytes resolves with them first). */
  private fail(error: Error): void {
    if (this.phase === "dead") return;
    this.lastError = error;
    const phase = this.phase;
    this.destroy();
    if (phase === "idle" || (phase === "body" && this.bodyEnded)) return;
    this.failure = error;
    if (this.settleHead) {
      const settle = this.settleHead;
      this.settleHead = undefined;
      settle.reject(error);
    }
    const filled = this.filled;
    const read = this.takeRead();
    if (filled > 0) read?.resolve(filled);
    else read?.reject(error);
  }

  private readInto(target: Uint8Array): Promise<number> {
    if (this.settleRead) return Promise.reject(new Error(`${this.what}: one read at a time`));
    if (this.bodyEnded) return Promise.resolve(0);
    if (this.failure) return Promise.reject(this.failure);
    if (target.length === 0) return Promise.resolve(0);
    return new Promise<number>((resolve, reject) => {
      this.settleRead = { resolve, reject };
      this.target = target;
      this.filled = 0;
      try {
        this.advance();
      } catch (error) {
        this.fail(error as Error);
        return;
      }
      if (this.settleRead && this.phase === "body") this.socket.resume();
    });
  }

  private response(status: number, headers: Record<string, string | string[]>): PlainHttpResponse {
    const generation = this.generation;
    // Once the connection carries the next response, this one's body has ended.
    const current = (): boolean => generation === this.generation;
    const readInto = (target: Uint8Array): Promise<number> => (current() ? this.readInto(target) : Promise.resolve(0));
    let body: Readable | undefined;
    const discard = (): void => {
      // A body not read to its end leaves the connection mid-response: it cannot be reused.
      if (current() && !this.bodyEnded && this.phase === "body") this.fail(new RemoteUnreachableError(`${this.what}: body discarded before its end`, "ECONNABORTED"));
    };
    return {
      status,
      headers,
      readInto,
      get body(): Readable {
        body ??= new Readable({
          read(size) {
            const chunk = Buffer.allocUnsafe(Math.min(Math.max(size, 16 * 1024), 64 * 1024));
            readInto(chunk).then(
              (count) => this.push(count === 0 ? null : chunk.subarray(0, count)),
              (error: Error) => this.destroy(error),
            );
          },
          destroy(error, callback) {
            discard();
            callback(error);
          },
        });
        return body;
      },
    };
  }
}

function framingOf(status: number, headers: Record<string, string | string[]>, what: string): Framing {
  if (status === 204 || status === 304) return { kind: "none" };
  const encoding = headers["transfer-encoding"];
  if (encoding !== undefined) {
    if (!/(?:^|,)\s*chunked\s*$/i.test(String(encoding))) throw new Error(`${what}: unsupported Transfer-Encoding ${String(encoding)}`);
    return { kind: "chunked", state: "size", left: 0 };
  }
  const length = headers["content-length"];
  if (length !== undefined) {
    const values = [...new Set(String(length).split(",").map((value) => value.trim()))];
    if (values.length !== 1 || !/^\d{1,15}$/.test(values[0]!)) throw new Error(`${what}: malformed Content-Length`);
    const remaining = Number(values[0]);
    return remaining === 0 ? { kind: "none" } : { kind: "length", remaining };
  }
  return { kind: "close" };
}
