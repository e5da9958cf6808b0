import { describe, expect, it } from "vitest";
import {
  GATEWAY_ACTIONS,
  REPOSITORY_ACTIONS,
  formatScopeMapAction,
  isValidRepositoryPattern,
  parseScopeMapAction,
  type ParseResult,
} from "../../shared/domain/scope-map-actions.js";

function message(result: ParseResult): string {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.action)}`);
  return result.message;
}

describe("scope-map actions", () => {
  describe("repository actions", () => {
    it.each(REPOSITORY_ACTIONS)("accepts %s on a repository name", (verb) => {
      expect(parseScopeMapAction(`repositories/hello-world/${verb}`)).toEqual({
        ok: true,
        action: { kind: "repository", pattern: "hello-world", action: verb },
      });
    });

    it("reads a nested repository name up to the last two segments", () => {
      expect(parseScopeMapAction("repositories/org/team/app/content/write")).toEqual({
        ok: true,
        action: { kind: "repository", pattern: "org/team/app", action: "content/write" },
      });
    });

    it.each([
      ["every repository", "*"],
      ["every repository under a name", "a/*"],
      ["every repository under a nested name", "a/b/*"],
    ])("accepts the pattern for %s (%s)", (_what, pattern) => {
      expect(parseScopeMapAction(`repositories/${pattern}/content/read`)).toEqual({
        ok: true,
        action: { kind: "repository", pattern, action: "content/read" },
      });
    });

    it('refuses a misspelt verb, naming it: "content/raed"', () => {
      const text = message(parseScopeMapAction("repositories/x/content/raed"));
      expect(text).toBe(`Invalid action "content/raed" in "repositories/x/content/raed": use one of ${REPOSITORY_ACTIONS.join(", ")}`);
    });

    it.each(["metadata/delete", "content/admin", "content/READ", "Content/read"])("refuses the verb %s", (verb) => {
      expect(message(parseScopeMapAction(`repositories/x/${verb}`))).toMatch(new RegExp(`^Invalid action "${verb}" in `));
    });

    it.each([
      ["a wildcard followed by a name", "*/x"],
      ["a wildcard between names", "a/*/b"],
      ["a wildcard as a name's suffix", "a*"],
      ["a wildcard as a name's prefix", "*a"],
      ["a wildcard glued to the last component", "a/b*"],
      ["a double wildcard", "a/**"],
      ["a wildcard and nothing before the slash", "/*"],
    ])("refuses %s (%s): a wildcard may only end the pattern, after a slash", (_what, pattern) => {
      const text = message(parseScopeMapAction(`repositories/${pattern}/content/read`));
      expect(text).toMatch(/^Invalid repository "/);
      expect(text).toContain(`"${pattern}"`);
    });

    it.each([
      ["uppercase letters", "Hello"],
      ["an empty component", "a//b"],
      ["a '..' component", "../etc"],
      ["a trailing slash", "a/"],
    ])("refuses a repository name with %s", (_what, name) => {
      expect(message(parseScopeMapAction(`repositories/${name}/content/read`))).toMatch(/^Invalid repository /);
    });
  });

  describe("gateway actions", () => {
    it.each(GATEWAY_ACTIONS)("accepts %s on a connected registry", (verb) => {
      expect(parseScopeMapAction(`gateway/myedge01/${verb}`)).toEqual({
        ok: true,
        action: { kind: "gateway", connectedRegistry: "myedge01", action: verb },
      });
    });

    it("refuses a gateway verb that does not exist, naming it", () => {
      expect(message(parseScopeMapAction("gateway/myedge01/config/delete"))).toBe(
        `Invalid action "config/delete" in "gateway/myedge01/config/delete": use one of ${GATEWAY_ACTIONS.join(", ")}`,
      );
    });

    it.each([
      ["too short", "edge"],
      ["a dash", "my-edge"],
      ["a wildcard", "*"],
      ["too long", "e".repeat(51)],
    ])("refuses a connected-registry name that is %s", (_what, name) => {
      expect(message(parseScopeMapAction(`gateway/${name}/config/read`))).toMatch(/^Invalid connected registry /);
    });

    it("refuses a gateway action with a nested name", () => {
      expect(parseScopeMapAction("gateway/myedge01/extra/config/read").ok).toBe(false);
    });
  });

  it.each(["", "repositories", "repositories/x", "repositories/content/read", "registry/x/content/read", "gateway/myedge01/config", "x/y/z/w"])(
    "refuses %j as not an action at all, explaining both forms",
    (text) => {
      const text2 = message(parseScopeMapAction(text));
      expect(text2).toContain("expected repositories/<repository>/");
      expect(text2).toContain("gateway/<connected-registry>/");
    },
  );

  it("formats a parsed action back to its text", () => {
    for (const text of ["repositories/a/b/*/metadata/write", "repositories/*/content/delete", "gateway/myedge01/message/read"]) {
      const parsed = parseScopeMapAction(text);
      if (!parsed.ok) throw new Error(parsed.message);
      expect(formatScopeMapAction(parsed.action)).toBe(text);
    }
  });

  it("validates repository patterns on their own", () => {
    expect(isValidRepositoryPattern("*")).toBe(true);
    expect(isValidRepositoryPattern("a/b/*")).toBe(true);
    expect(isValidRepositoryPattern("a/b")).toBe(true);
    expect(isValidRepositoryPattern("a/*/b")).toBe(false);
    expect(isValidRepositoryPattern("*/*")).toBe(false);
  });
});
