import { describe, expect, it } from "vitest";
import {
  actionsForAncestors,
  actionsToStripFromAncestor,
  gatewayActionsFor,
  repositoryActionsFor,
  requiredSyncScopeMapActions,
  syncScopeMapActions,
  validateSyncRepositories,
  type SyncScope,
} from "../../../shared/domain/connected-registry/index.js";
import { parseScopeMapAction } from "../../../shared/domain/scope-map-actions.js";

const gateway = (name: string): string[] => [
  `gateway/${name}/config/read`,
  `gateway/${name}/config/write`,
  `gateway/${name}/message/read`,
  `gateway/${name}/message/write`,
];

describe("a connected registry's sync scope map", () => {
  it("gives a ReadOnly registry content/read and metadata/read on each repository, and its gateway actions", () => {
    expect(syncScopeMapActions({ name: "shop1", mode: "ReadOnly", repositories: ["hello-world", "org/app"] })).toEqual([
      "repositories/hello-world/content/read",
      "repositories/hello-world/metadata/read",
      "repositories/org/app/content/read",
      "repositories/org/app/metadata/read",
      ...gateway("shop1"),
    ]);
  });

  it("gives a ReadWrite registry content/write, content/delete and metadata/write as well", () => {
    expect(syncScopeMapActions({ name: "factory1", mode: "ReadWrite", repositories: ["hello-world"] })).toEqual([
      "repositories/hello-world/content/read",
      "repositories/hello-world/metadata/read",
      "repositories/hello-world/content/write",
      "repositories/hello-world/content/delete",
      "repositories/hello-world/metadata/write",
      ...gateway("factory1"),
    ]);
  });

  it("lists a repository named twice once", () => {
    expect(repositoryActionsFor("ReadOnly", ["app", "app"])).toEqual(["repositories/app/content/read", "repositories/app/metadata/read"]);
  });

  it("produces only actions that the scope-map action parser accepts", () => {
    const actions = [
      ...syncScopeMapActions({ name: "factory1", mode: "ReadWrite", repositories: ["a", "org/team/app", "x.y_z-w"] }),
      ...syncScopeMapActions({ name: "A".repeat(50), mode: "ReadOnly", repositories: ["b"] }),
      ...gatewayActionsFor("edge1"),
    ];
    expect(actions.length).toBeGreaterThan(0);
    for (const action of actions) expect(parseScopeMapAction(action), action).toMatchObject({ ok: true });
  });
});

describe("validateSyncRepositories", () => {
  it("drops duplicates and keeps the order", () => {
    expect(validateSyncRepositories(["b", "a", "b"])).toEqual({ ok: true, repositories: ["b", "a"] });
  });

  it("refuses wildcards and invalid names, naming each", () => {
    expect(validateSyncRepositories(["ok", "Upper", "team/*"])).toEqual({ ok: false, message: 'invalid repository names "Upper", "team/*"' });
  });
});

describe("ancestors' sync scope maps", () => {
  const factory: SyncScope = { name: "factory1", mode: "ReadWrite", repositories: ["app", "tools"] };
  const line: SyncScope = { name: "line1", mode: "ReadOnly", repositories: ["app", "sensors"] };
  const robot: SyncScope = { name: "robot1", mode: "ReadOnly", repositories: ["sensors", "firmware"] };

  it("adds the child's repository actions, in the child's mode, and its gateway actions", () => {
    expect(actionsForAncestors(line)).toEqual([
      "repositories/app/content/read",
      "repositories/app/metadata/read",
      "repositories/sensors/content/read",
      "repositories/sensors/metadata/read",
      ...gateway("line1"),
    ]);
  });

  it("requires an ancestor's own actions and every descendant's", () => {
    const required = requiredSyncScopeMapActions(factory, [line, robot]);
    expect(required).toEqual(
      expect.arrayContaining([...syncScopeMapActions(factory), ...syncScopeMapActions(line), ...syncScopeMapActions(robot)]),
    );
    expect(new Set(required).size).toBe(required.length);
  });

  it("strips on delete only what the ancestor no longer needs for itself or its other descendants", () => {
    // factory1 keeps "app" for itself and "sensors" for robot1; only line1's gateway goes.
    expect(actionsToStripFromAncestor(factory, line, [robot])).toEqual(gateway("line1"));
  });

  it("strips a repository that nothing left in the subtree syncs", () => {
    expect(actionsToStripFromAncestor(factory, robot, [line])).toEqual([
      "repositories/firmware/content/read",
      "repositories/firmware/metadata/read",
      ...gateway("robot1"),
    ]);
  });

  it("ignores the deleted registry if the caller still lists it among the descendants", () => {
    expect(actionsToStripFromAncestor(factory, robot, [line, robot])).toContain("repositories/firmware/content/read");
  });

  it("keeps a ReadWrite ancestor's write actions when a ReadOnly child of the same repository goes", () => {
    const stripped = actionsToStripFromAncestor(factory, { name: "kiosk1", mode: "ReadOnly", repositories: ["app"] }, []);
    expect(stripped).toEqual(gateway("kiosk1"));
  });
});
