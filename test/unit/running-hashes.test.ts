import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { RunningHashes } from "../../shared/registry/running-hashes.js";

describe("running upload hashes", () => {
  it("gives back the hash put for an upload at the same offset", () => {
    const hashes = new RunningHashes();
    const hash = createHash("sha256").update("chunk-1");
    hashes.put("upload-1", 7, hash);
    expect(hashes.take("upload-1", 7)).toBe(hash);
  });

  it("removes the hash when it is taken, so a second take finds nothing", () => {
    const hashes = new RunningHashes();
    hashes.put("upload-1", 7, createHash("sha256"));
    expect(hashes.take("upload-1", 7)).toBeDefined();
    expect(hashes.take("upload-1", 7)).toBeUndefined();
  });

  it("returns nothing when the offset does not match, and drops the stale state", () => {
    const hashes = new RunningHashes();
    hashes.put("upload-1", 7, createHash("sha256"));
    expect(hashes.take("upload-1", 8)).toBeUndefined();
    expect(hashes.take("upload-1", 7)).toBeUndefined();
  });

  it("returns nothing for an upload it never saw", () => {
    expect(new RunningHashes().take("unknown", 0)).toBeUndefined();
  });

  it("keeps each upload's hash separately", () => {
    const hashes = new RunningHashes();
    const a = createHash("sha256");
    const b = createHash("sha256");
    hashes.put("a", 1, a);
    hashes.put("b", 2, b);
    expect(hashes.take("b", 2)).toBe(b);
    expect(hashes.take("a", 1)).toBe(a);
  });

  it("replaces an upload's earlier state when put again", () => {
    const hashes = new RunningHashes();
    const later = createHash("sha256");
    hashes.put("a", 1, createHash("sha256"));
    hashes.put("a", 5, later);
    expect(hashes.take("a", 5)).toBe(later);
  });

  it("forgets an upload on request", () => {
    const hashes = new RunningHashes();
    hashes.put("a", 1, createHash("sha256"));
    hashes.forget("a");
    expect(hashes.take("a", 1)).toBeUndefined();
  });

  it("evicts the oldest upload when full", () => {
    const hashes = new RunningHashes(2);
    hashes.put("first", 1, createHash("sha256"));
    hashes.put("second", 2, createHash("sha256"));
    hashes.put("third", 3, createHash("sha256"));
    expect(hashes.take("first", 1)).toBeUndefined();
    expect(hashes.take("second", 2)).toBeDefined();
    expect(hashes.take("third", 3)).toBeDefined();
  });

  it("counts an upload that was taken and put back as the newest", () => {
    const hashes = new RunningHashes(2);
    hashes.put("first", 1, createHash("sha256"));
    hashes.put("second", 2, createHash("sha256"));
    const resumed = hashes.take("first", 1)!;
    hashes.put("first", 10, resumed);
    hashes.put("third", 3, createHash("sha256"));
    expect(hashes.take("second", 2)).toBeUndefined();
    expect(hashes.take("first", 10)).toBe(resumed);
    expect(hashes.take("third", 3)).toBeDefined();
  });

  it("holds 1000 uploads by default", () => {
    const hashes = new RunningHashes();
    for (let i = 0; i <= 1000; i++) hashes.put(`u${i}`, i, createHash("sha256"));
    expect(hashes.take("u0", 0)).toBeUndefined();
    expect(hashes.take("u1", 1)).toBeDefined();
    expect(hashes.take("u1000", 1000)).toBeDefined();
  });

  it("produces the digest of all chunks when the taken hash is fed on", () => {
    const hashes = new RunningHashes();
    hashes.put("a", 3, createHash("sha256").update("abc"));
    const hash = hashes.take("a", 3)!.update("def");
    expect(hash.digest("hex")).toBe(createHash("sha256").update("abcdef").digest("hex"));
  });
});

describe("RunningHashes when an upload is put again", () => {
  it("replaces its own entry instead of evicting another upload", () => {
    const hashes = new RunningHashes(2);
    hashes.put("a", 0, createHash("sha256"));
    hashes.put("b", 0, createHash("sha256"));
    hashes.put("b", 10, createHash("sha256"));
    expect(hashes.take("a", 0)).toBeDefined();
    expect(hashes.take("b", 10)).toBeDefined();
  });
});
