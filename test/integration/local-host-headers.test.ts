/**
 * The local host hands handlers a view of node's parsed headers instead of WHATWG Headers
 * (shared/http/node-headers.ts). Whatever a client sends, a handler must read the same
 * values WHATWG Headers built from the raw header lines would give: names in any case, a
 * repeated header's values joined with ", " (including the ones node's `headers` keeps only
 * once, such as Authorization), null for an absent one. A real server and a raw socket.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalHost, type LocalHost } from "../../dist/shared/http/local-host.js";
import { NodeHeaders } from "../../dist/shared/http/node-headers.js";

const ASKED = ["authorization", "Authorization", "x-multi", "X-Multi", "accept", "content-type", "host", "x-empty", "x-absent"];

/** Sends `lines` as the request's header lines and returns the handler's answer. */
function send(url: string, lines: string[]): Promise<Record<string, string | null>> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(`GET /echo HTTP/1.1\r\n${lines.join("\r\n")}\r\nConnection: close\r\n\r\n`));
    let text = "";
    socket.on("data", (chunk) => (text += chunk.toString()));
    socket.on("error", reject);
    socket.on("end", () => {
      try {
        resolve(JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4)) as Record<string, string | null>);
      } catch (error) {
        reject(new Error(`not the handler's JSON: ${text}`, { cause: error }));
      }
    });
  });
}

/** What WHATWG Headers make of the same lines. */
function whatwg(lines: string[]): Record<string, string | null> {
  const headers = new Headers();
  for (const line of lines) headers.append(line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim());
  return Object.fromEntries(ASKED.map((name) => [name, headers.get(name)]));
}

describe("request headers at the local host", () => {
  let host: LocalHost;

  beforeAll(async () => {
    host = await startLocalHost(
      [
        {
          name: "echo",
          route: "echo",
          methods: ["GET"],
          handler: async (request) => {
            const body = JSON.stringify(Object.fromEntries(ASKED.map((name) => [name, request.headers.get(name)])));
            // A length, not chunks: the raw reader above takes the body as it comes.
            return { status: 200, headers: { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(body)) }, body };
          },
        },
      ],
      [],
      { host: "127.0.0.1", port: 0, log: () => {} },
    );
  });
  afterAll(() => host?.close());

  it("reads single, repeated, empty and absent headers as WHATWG Headers would", async () => {
    const lines = [
      "Host: registry.test",
      "Authorization: Basic YTpi",
      "AUTHORIZATION: Bearer second",
      "X-Multi: one",
      "x-multi: two,three",
      "Accept: application/vnd.oci.image.manifest.v1+json",
      "accept: application/vnd.oci.image.index.v1+json",
      "Content-Type: text/plain",
      "X-Empty: ",
    ];
    const seen = await send(host.url, lines);
    expect(seen).toEqual(whatwg(lines));
    // Spelled out, so the comparison cannot pass by both sides being wrong the same way.
    expect(seen).toMatchObject({ authorization: "Basic YTpi, Bearer second", "X-Multi": "one, two,three", "content-type": "text/plain", "x-empty": "", "x-absent": null });
  });

  it("reads a response's headers the same way (the parent client's view)", () => {
    const headers = new NodeHeaders({ "docker-content-digest": "sha256:abc", "set-cookie": ["a=1", "b=2"], "x-none": undefined });
    expect(headers.get("Docker-Content-Digest")).toBe("sha256:abc");
    expect(headers.get("set-cookie")).toBe("a=1, b=2");
    expect(headers.get("x-none")).toBeNull();
    expect(headers.get("location")).toBeNull();
  });
});
