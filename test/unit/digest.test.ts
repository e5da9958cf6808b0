import { describe, expect, it } from "vitest";
import { isDigest, parseDigest } from "../../shared/domain/digest.js";

const sha256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const sha512Hex = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

describe("digests", () => {
  it("parses a sha256 digest into its algorithm and hex", () => {
    expect(parseDigest(`sha256:${sha256Hex}`)).toEqual({ algorithm: "sha256", hex: sha256Hex });
  });

  it("parses a sha512 digest into its algorithm and hex", () => {
    expect(parseDigest(`sha512:${sha512Hex}`)).toEqual({ algorithm: "sha512", hex: sha512Hex });
  });

  it.each([
    ["a sha256 hex one character short", `sha256:${sha256Hex.slice(1)}`],
    ["a sha256 hex one character long", `sha256:${sha256Hex}0`],
    ["a sha256 algorithm with a sha512-length hex", `sha256:${sha512Hex}`],
    ["a sha512 algorithm with a sha256-length hex", `sha512:${sha256Hex}`],
    ["uppercase hex", `sha256:${sha256Hex.toUpperCase()}`],
    ["an uppercase algorithm", `SHA256:${sha256Hex}`],
    ["an unknown algorithm", `md5:${"a".repeat(32)}`],
    ["an unregistered algorithm with a plausible length", `sha384:${"a".repeat(96)}`],
    ["non-hex characters", `sha256:${"g".repeat(64)}`],
    ["no colon", sha256Hex],
    ["no hex", "sha256:"],
    ["a second colon", `sha256:${sha256Hex.slice(1)}:`],
    ["the empty string", ""],
  ])("refuses %s", (_why, value) => {
    expect(parseDigest(value)).toBeUndefined();
    expect(isDigest(value)).toBe(false);
  });

  it("reports a well-formed digest as a digest", () => {
    expect(isDigest(`sha256:${sha256Hex}`)).toBe(true);
  });
});
