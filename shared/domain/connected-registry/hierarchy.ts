/**
 * The tree of connected registries. The cloud registry is the root and is not in the map:
 * an entry without a parent hangs directly under the cloud.
 *
 * Modes narrow going down: a ReadOnly registry has nothing upstream to push to, so
 * anything below it must be ReadOnly too; by induction every ancestor of a ReadWrite
 * registry is ReadWrite. The cloud accepts children of both modes.
 */
import type { ConnectedRegistryMode } from "./names-and-modes.js";

export interface HierarchyEntry {
  mode: ConnectedRegistryMode;
  /** The parent connected registry; undefined when the parent is the cloud registry. */
  parent?: string | undefined;
}

/** Every connected registry of the registry, by name. */
export type Hierarchy = ReadonlyMap<string, HierarchyEntry>;

export type HierarchyCheck = { ok: true } | { ok: false; message: string };

/**
 * Whether `child` (new, or existing and being re-parented) may have `parent` as its
 * parent. An undefined parent means the cloud registry, which is always allowed.
 */
export function validateParent(
  hierarchy: Hierarchy,
  child: { name: string; mode: ConnectedRegistryMode },
  parent: string | undefined,
): HierarchyCheck {
  if (parent === undefined) return { ok: true };
  if (parent === child.name) return { ok: false, message: `connected registry "${child.name}" cannot be its own parent` };
  const parentEntry = hierarchy.get(parent);
  if (!parentEntry) return { ok: false, message: `the parent connected registry "${parent}" does not exist` };
  if (parentEntry.mode === "ReadOnly" && child.mode === "ReadWrite") {
    return {
      ok: false,
      message: `a ReadWrite connected registry cannot be the child of ReadOnly "${parent}": a ReadOnly parent may have only ReadOnly children`,
    };
  }
  // Only a re-parented registry can close a loop: it must not go under its own subtree.
  if (ancestorsOf(hierarchy, parent).includes(child.name)) {
    return {
      ok: false,
      message: `"${parent}" cannot be the parent of "${child.name}": "${parent}" is a descendant of "${child.name}", which would make a cycle`,
    };
  }
  return { ok: true };
}

/**
 * The ancestors of `name`, nearest first, up to (not including) the cloud registry.
 * A parent missing from the map ends the walk after that name: nothing is known above it.
 */
export function ancestorsOf(hierarchy: Hierarchy, name: string): string[] {
  const ancestors: string[] = [];
  const seen = new Set([name]);
  for (let parent = hierarchy.get(name)?.parent; parent !== undefined; parent = hierarchy.get(parent)?.parent) {
    // validateParent keeps cycles out; one in stored data is corruption, not something to walk around.
    if (seen.has(parent)) throw new Error(`the connected registry hierarchy has a cycle through "${parent}"`);
    seen.add(parent);
    ancestors.push(parent);
  }
  return ancestors;
}

/** The direct children of `name`, sorted by name so that callers get a stable order. */
export function childrenOf(hierarchy: Hierarchy, name: string): string[] {
  const children: string[] = [];
  for (const [candidate, entry] of hierarchy) if (entry.parent === name) children.push(candidate);
  return children.sort();
}

/** Every registry below `name`, breadth first: children, then grandchildren, and so on. */
export function descendantsOf(hierarchy: Hierarchy, name: string): string[] {
  const byParent = new Map<string, string[]>();
  for (const [candidate, entry] of hierarchy) {
    if (entry.parent === undefined) continue;
    const siblings = byParent.get(entry.parent);
    if (siblings) siblings.push(candidate);
    else byParent.set(entry.parent, [candidate]);
  }
  const descendants: string[] = [];
  const seen = new Set([name]);
  // One pass over the map, then a walk: cost follows the size of the map, not depth x size.
  for (let level = [name]; level.length > 0; ) {
    const next: string[] = [];
    for (const parent of level) {
      for (const child of (byParent.get(parent) ?? []).sort()) {
        if (seen.has(child)) throw new Error(`the connected registry hierarchy has a cycle through "${child}"`);
        seen.add(child);
        descendants.push(child);
        next.push(child);
      }
    }
    level = next;
  }
  return descendants;
}
