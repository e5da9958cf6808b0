import { describe, expect, it } from "vitest";
import {
  DOCKER_REPOSITORY_ACTIONS,
  ScopeParseError,
  covers,
  formatScope,
  grantAccess,
  parseDockerScopes,
  type AccessEntry,
} from "../../shared/domain/docker-scope.js";
import { Permissions } from "../../shared/domain/permissions.js";
import { parseScopeMapAction, type ScopeMapAction } from "../../shared/domain/scope-map-actions.js";

function permissions(...texts: string[]): Permissions {
  return new Permissions(
    texts.map((text): ScopeMapAction => {
      const parsed = parseScopeMapAction(text);
      if (!parsed.ok) throw new Error(parsed.message);
      return parsed.action;
    }),
  );
}

const catalog: AccessEntry = { type: "registry", name: "catalog", actions: ["*"] };
const repo = (name: string, ...actions: (typeof DOCKER_REPOSITORY_ACTIONS)[number][]): AccessEntry => ({ type: "repository", name, actions });

describe("Docker scopes", () => {
  describe("parsing", () => {
    it("reads one repository scope", () => {
      expect(parseDockerScopes(["repository:hello:pull"])).toEqual([repo("hello", "pull")]);
    });

    it("reads several actions and a nested name", () => {
      expect(parseDockerScopes(["repository:org/team/app:pull,push"])).toEqual([repo("org/team/app", "pull", "push")]);
    });

    it("reads several scopes from one parameter, separated by spaces", () => {
      expect(parseDockerScopes(["repository:a:pull repository:b/c:push registry:catalog:*"])).toEqual([repo("a", "pull"), repo("b/c", "push"), catalog]);
    });

    it("reads scopes spread over several parameters and ignores extra spaces and empty parameters", () => {
      expect(parseDockerScopes(["  repository:a:pull  ", "", "repository:b:delete"])).toEqual([repo("a", "pull"), repo("b", "delete")]);
    });

    it("reads nothing from no scope", () => {
      expect(parseDockerScopes([])).toEqual([]);
    });

    it('reads "registry:catalog:*" as the catalog', () => {
      expect(parseDockerScopes(["registry:catalog:*"])).toEqual([catalog]);
    });

    it('reads "repository(plugin)" as a repository', () => {
      expect(parseDockerScopes(["repository(plugin):vieux/sshfs:pull"])).toEqual([repo("vieux/sshfs", "pull")]);
    });

    it('expands the action "*" to every repository action', () => {
      expect(parseDockerScopes(["repository:hello:*"])).toEqual([repo("hello", ...DOCKER_REPOSITORY_ACTIONS)]);
    });

    it("reads metadata_read and metadata_write", () => {
      expect(parseDockerScopes(["repository:hello:metadata_read,metadata_write"])).toEqual([repo("hello", "metadata_read", "metadata_write")]);
    });

    it("drops actions it does not know, keeping the others", () => {
      expect(parseDockerScopes(["repository:hello:pull,fly,push,PULL"])).toEqual([repo("hello", "pull", "push")]);
      expect(parseDockerScopes(["repository:hello:fly"])).toEqual([repo("hello")]);
    });

    it("reads type and actions from the two ends, so a name with colons stays whole", () => {
      // "a:b" is the name (and is then refused as not a repository name), not "a" with actions "b:pull".
      expect(() => parseDockerScopes(["repository:localhost:5000/hello:pull"])).toThrow('"localhost:5000/hello" is not a repository name');
      expect(() => parseDockerScopes(["repository:a:b:pull"])).toThrow('"a:b" is not a repository name');
    });

    it("ignores resource types that are not its own, even with colons in the name", () => {
      expect(parseDockerScopes(["plugin:vieux:sshfs:pull", "registry:other:*", "repository:hello:pull"])).toEqual([repo("hello", "pull")]);
    });

    it.each([
      ["no colon", "repository"],
      ["no actions", "repository:hello"],
      ["no type", ":hello:pull"],
      ["an empty name", "repository::pull"],
      ["an invalid repository name", "repository:Hello:pull"],
      ["a path traversal", "repository:../etc:pull"],
    ])("throws a ScopeParseError for a scope with %s (%j)", (_what, scope) => {
      expect(() => parseDockerScopes([scope])).toThrow(ScopeParseError);
      expect(() => parseDockerScopes([`repository:ok:pull ${scope}`])).toThrow(`invalid scope "${scope}"`);
    });
  });

  describe("granting access: the intersection of asked and allowed", () => {
    const allowed = permissions(
      "repositories/hello/content/read",
      "repositories/hello/content/write",
      "repositories/team/*/content/read",
      "repositories/notes/metadata/read",
    );

    it("grants exactly what is both asked and allowed", () => {
      const asked = parseDockerScopes(["repository:hello:pull,push,delete repository:team/app:pull,push repository:other:pull"]);
      expect(grantAccess(asked, allowed)).toEqual([repo("hello", "pull", "push"), repo("team/app", "pull")]);
    });

    it("grants nothing, without an error, when nothing asked is allowed", () => {
      expect(grantAccess(parseDockerScopes(["repository:other:pull,push repository:team:pull"]), allowed)).toEqual([]);
      expect(grantAccess(parseDockerScopes(["repository:hello:delete"]), permissions())).toEqual([]);
    });

    it('grants only the allowed actions when "*" is asked', () => {
      expect(grantAccess(parseDockerScopes(["repository:hello:*", "repository:notes:*"]), allowed)).toEqual([
        repo("hello", "pull", "push"),
        repo("notes", "metadata_read"),
      ]);
    });

    it("maps Docker actions onto scope-map actions", () => {
      const all = permissions(
        "repositories/r/content/read",
        "repositories/r/content/write",
        "repositories/r/content/delete",
        "repositories/r/metadata/read",
        "repositories/r/metadata/write",
      );
      for (const action of DOCKER_REPOSITORY_ACTIONS) {
        expect(grantAccess([repo("r", action)], all)).toEqual([repo("r", action)]);
        const only = { pull: "content/read", push: "content/write", delete: "content/delete", metadata_read: "metadata/read", metadata_write: "metadata/write" }[action];
        const others = DOCKER_REPOSITORY_ACTIONS.filter((a) => a !== action);
        expect(grantAccess([repo("r", ...others)], permissions(`repositories/r/${only}`))).toEqual([]);
      }
    });

    it("merges repeated asks for one repository into one entry without duplicate actions", () => {
      const asked = parseDockerScopes(["repository:hello:pull", "repository:hello:push,pull repository:hello:pull"]);
      expect(grantAccess(asked, allowed)).toEqual([repo("hello", "pull", "push")]);
    });

    it("always grants the catalog (which then lists only what may be read)", () => {
      expect(grantAccess([catalog], permissions())).toEqual([catalog]);
      expect(grantAccess(parseDockerScopes(["registry:catalog:* registry:catalog:*"]), permissions())).toEqual([catalog]);
    });

    it("does not change what it was given", () => {
      const asked = [repo("hello", "pull", "delete")];
      grantAccess(asked, allowed);
      expect(asked).toEqual([repo("hello", "pull", "delete")]);
    });
  });

  describe("covers", () => {
    const granted = [repo("hello", "pull", "push"), repo("team/app", "pull"), catalog];

    it("is true when every needed action on every needed resource was granted", () => {
      expect(covers(granted, [repo("hello", "pull")])).toBe(true);
      expect(covers(granted, [repo("hello", "push", "pull"), repo("team/app", "pull")])).toBe(true);
      expect(covers(granted, [catalog])).toBe(true);
    });

    it("is true when nothing is needed", () => {
      expect(covers([], [])).toBe(true);
      expect(covers(granted, [])).toBe(true);
    });

    it("is false when one action is missing", () => {
      expect(covers(granted, [repo("hello", "pull", "delete")])).toBe(false);
      expect(covers(granted, [repo("team/app", "push")])).toBe(false);
    });

    it("is false for a repository that was not granted, even a nested or similar one", () => {
      expect(covers(granted, [repo("hello/sub", "pull")])).toBe(false);
      expect(covers(granted, [repo("team", "pull")])).toBe(false);
      expect(covers(granted, [repo("hello", "pull"), repo("other", "pull")])).toBe(false);
    });

    it("is false for the catalog unless it was granted", () => {
      expect(covers([repo("hello", "pull")], [catalog])).toBe(false);
      expect(covers([], [catalog])).toBe(false);
    });

    it("does not let a repository named catalog stand for the registry catalog", () => {
      // Even with the catalog's "*" among its actions (a JWT's access claim is only as trusted as its signature).
      const lookalike = { type: "repository", name: "catalog", actions: ["*"] } as unknown as AccessEntry;
      expect(covers([lookalike], [catalog])).toBe(false);
      expect(covers([catalog], [{ type: "repository", name: "catalog", actions: ["*"] } as unknown as AccessEntry])).toBe(false);
    });
  });

  it("formats a scope for a challenge", () => {
    expect(formatScope(repo("org/app", "pull", "push"))).toBe("repository:org/app:pull,push");
    expect(formatScope(catalog)).toBe("registry:catalog:*");
  });
});
