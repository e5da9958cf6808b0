import { describe, expect, it } from "vitest";
import { Permissions } from "../../shared/domain/permissions.js";
import { REPOSITORY_ACTIONS, parseScopeMapAction, type ScopeMapAction } from "../../shared/domain/scope-map-actions.js";

function permissions(...texts: string[]): Permissions {
  return new Permissions(
    texts.map((text): ScopeMapAction => {
      const parsed = parseScopeMapAction(text);
      if (!parsed.ok) throw new Error(parsed.message);
      return parsed.action;
    }),
  );
}

describe("permissions compiled from a scope map", () => {
  it("allows nothing when the scope map is empty", () => {
    const none = permissions();
    for (const action of REPOSITORY_ACTIONS) expect(none.allows("hello", action)).toBe(false);
    expect(none.mayRead("hello")).toBe(false);
  });

  describe("an exact repository", () => {
    const p = permissions("repositories/hello/content/read", "repositories/org/app/content/write");

    it("allows the action on that repository", () => {
      expect(p.allows("hello", "content/read")).toBe(true);
      expect(p.allows("org/app", "content/write")).toBe(true);
    });

    it("allows no other action on it", () => {
      expect(p.allows("hello", "content/write")).toBe(false);
      expect(p.allows("hello", "content/delete")).toBe(false);
      expect(p.allows("org/app", "content/read")).toBe(false);
    });

    it("does not reach repositories nested under it, its parent, or names sharing its prefix", () => {
      expect(p.allows("hello/sub", "content/read")).toBe(false);
      expect(p.allows("hello2", "content/read")).toBe(false);
      expect(p.allows("hell", "content/read")).toBe(false);
      expect(p.allows("org", "content/write")).toBe(false);
      expect(p.allows("org/app/x", "content/write")).toBe(false);
    });
  });

  describe('a prefix wildcard "a/*"', () => {
    const p = permissions("repositories/a/*/content/read");

    it("matches repositories directly and deeply nested under the prefix", () => {
      expect(p.allows("a/x", "content/read")).toBe(true);
      expect(p.allows("a/x/y", "content/read")).toBe(true);
      expect(p.allows("a/x/y/z/w", "content/read")).toBe(true);
    });

    it("does not match the prefix itself", () => {
      expect(p.allows("a", "content/read")).toBe(false);
    });

    it("does not match siblings sharing the prefix's letters", () => {
      expect(p.allows("ab/x", "content/read")).toBe(false);
      expect(p.allows("ab", "content/read")).toBe(false);
      expect(p.allows("xa/b", "content/read")).toBe(false);
    });

    it("does not match the name when it appears deeper in another repository", () => {
      expect(p.allows("b/a/x", "content/read")).toBe(false);
    });

    it("grants only its own action", () => {
      expect(p.allows("a/x", "content/write")).toBe(false);
      expect(p.allows("a/x", "metadata/read")).toBe(false);
    });
  });

  describe('a nested prefix wildcard "a/b/*"', () => {
    const p = permissions("repositories/a/b/*/content/delete");

    it("matches repositories under a/b/ at any depth", () => {
      expect(p.allows("a/b/c", "content/delete")).toBe(true);
      expect(p.allows("a/b/c/d", "content/delete")).toBe(true);
    });

    it("does not match a/b itself, its parent or its siblings", () => {
      expect(p.allows("a/b", "content/delete")).toBe(false);
      expect(p.allows("a", "content/delete")).toBe(false);
      expect(p.allows("a/c", "content/delete")).toBe(false);
      expect(p.allows("a/bc/d", "content/delete")).toBe(false);
      expect(p.allows("a/c/b/d", "content/delete")).toBe(false);
    });
  });

  describe('the wildcard "*"', () => {
    const p = permissions("repositories/*/metadata/read");

    it("matches every repository, top-level and nested", () => {
      for (const name of ["a", "hello-world", "a/b", "a/b/c/d"]) expect(p.allows(name, "metadata/read")).toBe(true);
    });

    it("still grants only its own action", () => {
      expect(p.allows("a", "content/read")).toBe(false);
      expect(p.allows("a/b", "metadata/write")).toBe(false);
    });
  });

  it("unites several patterns", () => {
    const p = permissions("repositories/hello/content/read", "repositories/team/*/content/write", "repositories/*/metadata/read");
    expect(p.allows("hello", "content/read")).toBe(true);
    expect(p.allows("team/app", "content/write")).toBe(true);
    expect(p.allows("team/app", "content/read")).toBe(false);
    expect(p.allows("zzz", "metadata/read")).toBe(true);
    expect(p.allows("zzz", "content/read")).toBe(false);
  });

  it("ignores gateway actions when checking repositories", () => {
    const p = permissions("gateway/myedge01/config/read", "gateway/myedge01/message/write");
    for (const action of REPOSITORY_ACTIONS) expect(p.allows("myedge01", action)).toBe(false);
  });

  describe("whether a repository may be read (for the catalog)", () => {
    it("is true with content/read or metadata/read", () => {
      expect(permissions("repositories/a/content/read").mayRead("a")).toBe(true);
      expect(permissions("repositories/a/metadata/read").mayRead("a")).toBe(true);
      expect(permissions("repositories/t/*/content/read").mayRead("t/x")).toBe(true);
    });

    it("is false with only write, delete or metadata/write", () => {
      expect(permissions("repositories/a/content/write", "repositories/a/content/delete", "repositories/a/metadata/write").mayRead("a")).toBe(false);
    });

    it("is false for the prefix of a wildcard pattern", () => {
      expect(permissions("repositories/t/*/content/read").mayRead("t")).toBe(false);
    });
  });
});
