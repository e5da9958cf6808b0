import { describe, expect, it } from "vitest";
import { MAX_REPOSITORY_NAME_LENGTH, isValidRepositoryName, isValidTag } from "../../shared/domain/names.js";

describe("repository names", () => {
  it.each([
    "alpine",
    "library/alpine",
    "a/b/c/d/e",
    "my-org/my_repo/sub.component",
    "a__b",
    "a---b",
    "0",
    "9lives/x1",
  ])("accepts the valid name %j", (name) => {
    expect(isValidRepositoryName(name)).toBe(true);
  });

  it.each([
    ["uppercase letters", "Library/alpine"],
    ["a '..' component", "a/../b"],
    ["'..' inside a component", "a..b"],
    ["a lone '..'", ".."],
    ["a '.' component", "a/./b"],
    ["a leading slash", "/alpine"],
    ["a trailing slash", "alpine/"],
    ["an empty component", "library//alpine"],
    ["a leading separator in a component", "library/-alpine"],
    ["a trailing separator in a component", "library/alpine_"],
    ["a triple underscore", "a___b"],
    ["a dot followed by a dash", "a.-b"],
    ["a percent sign", "a%2fb"],
    ["a backslash", "a\\b"],
    ["a colon", "alpine:3"],
    ["a space", "my repo"],
    ["the empty string", ""],
  ])("rejects a name with %s (%j)", (_why, name) => {
    expect(isValidRepositoryName(name)).toBe(false);
  });

  it("accepts a name of exactly 255 characters and rejects one of 256", () => {
    expect(MAX_REPOSITORY_NAME_LENGTH).toBe(255);
    const at = `${"a".repeat(127)}/${"b".repeat(127)}`;
    expect(at).toHaveLength(255);
    expect(isValidRepositoryName(at)).toBe(true);
    expect(isValidRepositoryName(`${at}c`)).toBe(false);
  });
});

describe("tags", () => {
  it.each(["latest", "3.20", "v1.0.0-rc.1", "_underscore-first", "UPPER_case", "a", "0"])("accepts the valid tag %j", (tag) => {
    expect(isValidTag(tag)).toBe(true);
  });

  it.each([
    ["starting with a dot", ".hidden"],
    ["starting with a dash", "-rc"],
    ["containing a slash", "a/b"],
    ["containing a colon", "a:b"],
    ["containing a plus", "1.0+build"],
    ["empty", ""],
  ])("rejects a tag %s (%j)", (_why, tag) => {
    expect(isValidTag(tag)).toBe(false);
  });

  it("accepts a tag of exactly 128 characters and rejects one of 129", () => {
    expect(isValidTag("t".repeat(128))).toBe(true);
    expect(isValidTag("t".repeat(129))).toBe(false);
  });
});
