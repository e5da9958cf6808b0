import { describe, expect, it } from "vitest";
import { templateToPattern } from "../../shared/http/local-host.js";

describe("Azure route templates", () => {
  it("matches v2 itself, v2/ and anything below it with v2/{*path}", () => {
    const pattern = templateToPattern("v2/{*path}");
    for (const path of ["v2", "v2/", "v2/a", "v2/a/b", "v2/library/alpine/manifests/latest", "v2/_catalog"]) {
      expect(pattern.test(path), path).toBe(true);
    }
  });

  it("does not let v2/{*path} match other prefixes", () => {
    const pattern = templateToPattern("v2/{*path}");
    for (const path of ["v20", "v2x/a", "v1/a", "", "/v2", "api/v2/a"]) {
      expect(pattern.test(path), path).toBe(false);
    }
  });

  it("matches a literal template only exactly", () => {
    const pattern = templateToPattern("oauth2/token");
    expect(pattern.test("oauth2/token")).toBe(true);
    for (const path of ["oauth2/token/", "oauth2/tokens", "oauth2", "xoauth2/token", "oauth2/token/x"]) {
      expect(pattern.test(path), path).toBe(false);
    }
  });

  it("escapes regex characters in literal segments", () => {
    const pattern = templateToPattern("a.b/c+d");
    expect(pattern.test("a.b/c+d")).toBe(true);
    expect(pattern.test("axb/c+d")).toBe(false);
    expect(pattern.test("a.b/ccd")).toBe(false);
  });

  it("matches exactly one segment for a {name} parameter", () => {
    const pattern = templateToPattern("repos/{name}/info");
    expect(pattern.test("repos/alpine/info")).toBe(true);
    expect(pattern.test("repos/library/alpine/info")).toBe(false);
    expect(pattern.test("repos//info")).toBe(false);
  });

  it("throws when a catch-all is not the last segment, naming the template", () => {
    expect(() => templateToPattern("v2/{*path}/tail")).toThrow("catch-all must be the last segment in v2/{*path}/tail");
  });
});
