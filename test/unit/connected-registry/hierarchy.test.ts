import { describe, expect, it } from "vitest";
import {
  ancestorsOf,
  childrenOf,
  descendantsOf,
  validateParent,
  type ConnectedRegistryMode,
  type Hierarchy,
  type HierarchyCheck,
  type HierarchyEntry,
} from "../../../shared/domain/connected-registry/index.js";

/**
 *   cloud
 *   ├── factory1 (ReadWrite)
 *   │   ├── line1 (ReadWrite)
 *   │   │   └── robot1 (ReadOnly)
 *   │   └── line2 (ReadOnly)
 *   │       └── screen1 (ReadOnly)
 *   └── shop1 (ReadOnly)
 */
const tree: Hierarchy = new Map<string, HierarchyEntry>([
  ["factory1", { mode: "ReadWrite" }],
  ["line1", { mode: "ReadWrite", parent: "factory1" }],
  ["line2", { mode: "ReadOnly", parent: "factory1" }],
  ["robot1", { mode: "ReadOnly", parent: "line1" }],
  ["screen1", { mode: "ReadOnly", parent: "line2" }],
  ["shop1", { mode: "ReadOnly" }],
]);

function refusal(result: HierarchyCheck): string {
  if (result.ok) throw new Error("expected a refusal");
  return result.message;
}

describe("validateParent: the hierarchy matrix", () => {
  it.each<[string, ConnectedRegistryMode, string]>([
    ["ReadOnly under ReadWrite", "ReadOnly", "factory1"],
    ["ReadWrite under ReadWrite", "ReadWrite", "factory1"],
    ["ReadOnly under ReadOnly", "ReadOnly", "shop1"],
  ])("allows %s", (_what, mode, parent) => {
    expect(validateParent(tree, { name: "newedge1", mode }, parent)).toEqual({ ok: true });
  });

  it.each<ConnectedRegistryMode>(["ReadWrite", "ReadOnly"])("allows a %s connected registry directly under the cloud", (mode) => {
    expect(validateParent(tree, { name: "newedge1", mode }, undefined)).toEqual({ ok: true });
  });

  it("refuses ReadWrite under ReadOnly with a message that names both modes and the parent", () => {
    expect(refusal(validateParent(tree, { name: "newedge1", mode: "ReadWrite" }, "shop1"))).toBe(
      'a ReadWrite connected registry cannot be the child of ReadOnly "shop1": a ReadOnly parent may have only ReadOnly children',
    );
  });

  it("refuses a parent that does not exist, naming it", () => {
    expect(refusal(validateParent(tree, { name: "newedge1", mode: "ReadOnly" }, "nowhere1"))).toBe(
      'the parent connected registry "nowhere1" does not exist',
    );
  });

  it("refuses a connected registry as its own parent", () => {
    expect(refusal(validateParent(tree, { name: "line1", mode: "ReadWrite" }, "line1"))).toMatch(/cannot be its own parent/);
  });

  it("refuses re-parenting a registry under its own grandchild, which would make a cycle", () => {
    expect(refusal(validateParent(tree, { name: "factory1", mode: "ReadWrite" }, "line1"))).toBe(
      '"line1" cannot be the parent of "factory1": "line1" is a descendant of "factory1", which would make a cycle',
    );
    expect(refusal(validateParent(tree, { name: "line2", mode: "ReadOnly" }, "screen1"))).toMatch(/would make a cycle/);
  });

  it("allows re-parenting a registry to a sibling's subtree", () => {
    expect(validateParent(tree, { name: "robot1", mode: "ReadOnly" }, "line2")).toEqual({ ok: true });
  });
});

describe("walking the hierarchy", () => {
  it("lists ancestors nearest first, stopping at the cloud", () => {
    expect(ancestorsOf(tree, "robot1")).toEqual(["line1", "factory1"]);
    expect(ancestorsOf(tree, "factory1")).toEqual([]);
  });

  it("ends the ancestors at a parent that is not in the map", () => {
    const orphaned: Hierarchy = new Map([["child1", { mode: "ReadOnly", parent: "gone1" }]]);
    expect(ancestorsOf(orphaned, "child1")).toEqual(["gone1"]);
  });

  it("lists the direct children, sorted by name whatever the map's order", () => {
    const reversed: Hierarchy = new Map([...tree].reverse());
    expect(childrenOf(reversed, "factory1")).toEqual(["line1", "line2"]);
    expect(childrenOf(tree, "robot1")).toEqual([]);
  });

  it("lists descendants breadth first: children before grandchildren", () => {
    const reversed: Hierarchy = new Map([...tree].reverse());
    expect(descendantsOf(reversed, "factory1")).toEqual(["line1", "line2", "robot1", "screen1"]);
    expect(descendantsOf(tree, "shop1")).toEqual([]);
  });

  it("reports a cycle in stored data instead of looping forever", () => {
    const corrupt: Hierarchy = new Map<string, HierarchyEntry>([
      ["alpha", { mode: "ReadWrite", parent: "bravo" }],
      ["bravo", { mode: "ReadWrite", parent: "alpha" }],
    ]);
    expect(() => ancestorsOf(corrupt, "alpha")).toThrow(/cycle/);
    expect(() => descendantsOf(corrupt, "alpha")).toThrow(/cycle/);
  });
});
