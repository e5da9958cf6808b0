import { describe, expect, it } from "vitest";
import { compileFilter, patternProblem, validateRepositoryFilters } from "../../../shared/domain/connected-registry/index.js";

describe("repository filters", () => {
  it("matches whole tags: include, exclude and a semver range all hold", () => {
    const filter = compileFilter({ repository: "app", tags: { include: ["v.*"], exclude: ["v1\\.9\\..*"], semver: ">=1.0.0 <2" } });
    const kept = ["v1.0.0", "v1.2.3", "v1.9.9", "v2.0.0", "dev-abc", "xv1.0.0", "v1.3.0-rc1", "1.5.0"].filter((tag) => filter.keepsTag(tag));
    // 1.5.0 fails include; v1.3.0-rc1 is a prerelease, outside a plain range (npm semver's rule).
    expect(kept).toEqual(["v1.0.0", "v1.2.3"]);
    // Anchored: "dev" does not match "dev-abc".
    expect(compileFilter({ repository: "app", tags: { include: ["dev"] } }).keepsTag("dev-abc")).toBe(false);
    expect(compileFilter({ repository: "app", tags: { include: ["dev|v1"] } }).keepsTag("v1")).toBe(true);
  });

  it("keeps the listed platforms, a variant only when named, and children without a platform", () => {
    const filter = compileFilter({ repository: "app", platforms: ["linux/arm64", "linux/arm/v7"] });
    expect(filter.keepsPlatform({ os: "linux", architecture: "arm64" })).toBe(true);
    expect(filter.keepsPlatform({ os: "linux", architecture: "arm64", variant: "v8" })).toBe(true);
    expect(filter.keepsPlatform({ os: "linux", architecture: "arm", variant: "v6" })).toBe(false);
    expect(filter.keepsPlatform({ os: "linux", architecture: "amd64" })).toBe(false);
    expect(filter.keepsPlatform(undefined)).toBe(true);
    expect(compileFilter({ repository: "app" }).keepsPlatform({ os: "windows", architecture: "amd64" })).toBe(true);
  });

  it("refuses bad patterns, ranges, platforms, repositories out of scope and duplicates, naming them", () => {
    const check = (filter: object, repositories = ["app"]): string => {
      const result = validateRepositoryFilters([filter as never], repositories);
      return result.ok ? "ok" : result.message;
    };
    expect(check({ repository: "app", tags: { include: ["v(1"] } })).toMatch(/tags\.include\[0\] "v\(1" is not a valid regular expression/);
    expect(check({ repository: "app", tags: { exclude: ["ok", "(a+)+"] } })).toMatch(/tags\.exclude\[1\] "\(a\+\)\+" repeats a group/);
    expect(check({ repository: "app", tags: { include: ["(\\d*)*x"] } })).toMatch(/repeats a group/);
    expect(check({ repository: "app", tags: { include: ["(?:a|b+){2,}"] } })).toMatch(/repeats a group/);
    expect(check({ repository: "app", tags: { include: ["(a|a)*b"] } })).toMatch(/repeats a group that holds a repetition or an alternation/);
    expect(check({ repository: "app", tags: { include: [".*.*.*.*.*x"] } })).toMatch(/more than 4 repetitions/);
    expect(check({ repository: "app", tags: { include: ["(a)\\1"] } })).toMatch(/backreference/);
    expect(check({ repository: "app", tags: { include: ["(?=v)v.*"] } })).toMatch(/lookaround/);
    expect(check({ repository: "app", tags: { include: ["v".repeat(129)] } })).toMatch(/longer than 128/);
    expect(check({ repository: "app", tags: { semver: "one" } })).toMatch(/tags\.semver "one" is not a semver range/);
    expect(check({ repository: "app", platforms: ["linux"] })).toMatch(/platform "linux" is not os\/architecture/);
    expect(check({ repository: "other" })).toMatch(/"other" is not in this connected registry's scope/);
    expect(validateRepositoryFilters([{ repository: "app" }, { repository: "app" }], ["app"])).toMatchObject({ ok: false, message: expect.stringMatching(/two filters/) });
    // Fine: alternations, classes, single quantifiers, quantified groups without inner quantifiers.
    for (const pattern of ["v[0-9]+\\.[0-9]+(\\.[0-9]+)?", "(alpha|beta)-.*", "v[0-9]+\\.[0-9]+\\.[0-9]+(-.*)?", "dev-.*", "[a-z(]+", "(?:v)?1\\.2"]) expect(patternProblem(pattern), pattern).toBeUndefined();
  });

  it("what the guard allows matches a hostile 128-character tag quickly", () => {
    const hostile = `${"a".repeat(127)}!`;
    for (const pattern of [".*.*.*.*x", "a*a*a*a*", "(?:a|aa)(?:a|aa)(?:a|aa)(?:a|aa)(?:a|aa)(?:a|aa)(?:a|aa)(?:a|aa)(?:a|aa)(?:a|aa)(?:a|aa)(?:a|aa)(?:a|aa)a*x"]) {
      expect(patternProblem(pattern), pattern).toBeUndefined();
      const filter = compileFilter({ repository: "app", tags: { include: [pattern] } });
      const started = performance.now();
      expect(filter.keepsTag(hostile)).toBe(false);
      expect(performance.now() - started, pattern).toBeLessThan(500);
    }
  });
});
