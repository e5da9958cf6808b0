/** The pieces of the edge image build that decide its bytes: layer tars, ldd's answers, the origin labels. */
import { gunzipSync } from "node:zlib";
import { extract, type Headers } from "tar-stream";
import { describe, expect, it } from "vitest";
import { createdFrom, publicSourceUrl } from "../../scripts/edge-image/build-info.js";
import { buildLayer, layerEntries, type LayerEntry } from "../../scripts/edge-image/layer.js";
import { parseLdd } from "../../scripts/edge-image/shared-libraries.js";

async function headersOf(gzippedTar: Buffer): Promise<Headers[]> {
  const headers: Headers[] = [];
  const reader = extract();
  const reading = (async () => {
    for await (const entry of reader) {
      headers.push(entry.header);
      entry.resume();
    }
  })();
  reader.end(gunzipSync(gzippedTar));
  await reading;
  return headers;
}

const file = (path: string, text: string, extra: Partial<LayerEntry> = {}): LayerEntry => ({ type: "file", path, mode: 0o644, content: Buffer.from(text), ...extra }) as LayerEntry;

describe("edge image layers", () => {
  it("writes every parent directory before its children, in byte order, whatever order the entries came in", () => {
    const ordered = layerEntries([file("/etc/passwd", "x"), file("/etc-old/x", "y"), file("/usr/local/bin/node", "z"), { type: "directory", path: "/data", mode: 0o750, uid: 7, gid: 7 }]);
    expect(ordered.map((entry) => entry.path)).toEqual(["data", "etc", "etc/passwd", "etc-old", "etc-old/x", "usr", "usr/local", "usr/local/bin", "usr/local/bin/node"]);
    expect(ordered.find((entry) => entry.path === "usr/local")).toMatchObject({ type: "directory", mode: 0o755 });
    expect(ordered.find((entry) => entry.path === "data")).toMatchObject({ uid: 7, gid: 7, mode: 0o750 });
  });

  it("refuses paths that leave the root and two entries for one path", () => {
    expect(() => layerEntries([file("/etc/../../x", "")])).toThrow(/not a usable path/);
    expect(() => layerEntries([file("/etc/a", ""), file("etc/a/", "")])).toThrow(/two entries for etc\/a/);
    expect(() => layerEntries([file("/etc", ""), file("/etc/a", "")])).toThrow(/is a file and the parent/);
  });

  it("gives the same bytes for the same entries, with one mtime, given owners and modes, and no names in tar or gzip headers", async () => {
    const entries = [file("/b/two", "2"), file("/a/one", "1", { mode: 0o755 }), { type: "directory" as const, path: "/tmp", mode: 0o1777 }];
    const mtime = new Date("2026-01-02T03:04:05Z");
    const once = await buildLayer(entries, mtime);
    const again = await buildLayer([...entries].reverse(), mtime);
    expect(again.digest).toBe(once.digest);
    expect(again.compressed.equals(once.compressed)).toBe(true);
    expect(once.diffId).not.toBe(once.digest);

    // gzip header: no FNAME flag (byte 3) and an mtime of zero (bytes 4-7).
    expect(once.compressed[3]).toBe(0);
    expect(once.compressed.readUInt32LE(4)).toBe(0);

    const headers = await headersOf(once.compressed);
    expect(headers.map((header) => `${header.name} ${header.type}`)).toEqual(["a directory", "a/one file", "b directory", "b/two file", "tmp directory"]);
    for (const header of headers) {
      expect(header.mtime?.getTime()).toBe(mtime.getTime());
      expect([header.uid, header.gid, header.uname, header.gname]).toEqual([0, 0, "", ""]);
    }
    expect(headers.find((header) => header.name === "a/one")?.mode).toBe(0o755);
    expect(headers.find((header) => header.name === "tmp")?.mode).toBe(0o1777);

    const later = await buildLayer(entries, new Date("2026-01-02T03:04:06Z"));
    expect(later.digest, "the mtime is part of the layer").not.toBe(once.digest);
  });
});

describe("edge image build inputs", () => {
  it("takes the library paths from ldd's answer, the loader included, and stops at a missing one", () => {
    const output = [
      "\tlinux-vdso.so.1 (0x00007ffc0cbe5000)",
      "\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f2a3c9f1000)",
      "\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f2a3c600000)",
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2a3c41f000)",
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f2a3ca09000)",
    ].join("\n");
    expect(parseLdd(output)).toEqual(["/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libdl.so.2", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib64/ld-linux-x86-64.so.2"]);
    expect(() => parseLdd(`${output}\n\tlibatomic.so.1 => not found`)).toThrow(/libatomic\.so\.1 => not found/);
  });

  it("labels the source without credentials a remote URL may carry", () => {
    expect(publicSourceUrl("https://user:ghp_secret@github.com/acme/connected-registry.git")).toBe("https://github.com/acme/connected-registry");
    expect(publicSourceUrl("git@github.com:acme/connected-registry.git")).toBe("https://github.com/acme/connected-registry");
    expect(publicSourceUrl("")).toBeUndefined();
  });

  it("dates the image from SOURCE_DATE_EPOCH, else the commit, and refuses anything but whole seconds", () => {
    expect(createdFrom("1700000000", "1600000000").toISOString()).toBe("2023-11-14T22:13:20.000Z");
    expect(createdFrom(undefined, "1600000000").toISOString()).toBe("2020-09-13T12:26:40.000Z");
    expect(() => createdFrom("yesterday", "1600000000")).toThrow(/SOURCE_DATE_EPOCH/);
  });
});
