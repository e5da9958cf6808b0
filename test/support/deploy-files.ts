/**
 * Reads what deploy/ ships, as the tools that consume it read it: Kubernetes manifests as
 * YAML documents (kustomize's JSON 6902 patches applied with an RFC 6902 library, as
 * kustomize applies them), systemd units as key/value lines where a key may repeat and an
 * empty assignment resets the list (systemd.syntax(7)).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import fastJsonPatch from "fast-json-patch";
import { parseAllDocuments, parse as parseYaml } from "yaml";

export const DEPLOY = join(import.meta.dirname, "../../deploy");

export type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec?: any } & Record<string, any>;

export async function readManifests(path: string): Promise<Manifest[]> {
  const documents = parseAllDocuments(await readFile(path, "utf8"));
  return documents.map((document) => {
    if (document.errors.length > 0) throw new Error(`${path}: ${document.errors.map((e) => e.message).join("; ")}`);
    return document.toJS() as Manifest;
  });
}

export async function readYaml(path: string): Promise<any> {
  return parseYaml(await readFile(path, "utf8"));
}

/** Applies a kustomization's inline JSON 6902 patches to the resources they target, in place. */
export function applyJsonPatches(resources: Manifest[], patches: Array<{ target: { kind: string; name: string }; patch: string }>): void {
  for (const { target, patch } of patches) {
    const resource = resources.find((r) => r.kind === target.kind && r.metadata.name === target.name);
    if (!resource) throw new Error(`a patch targets ${target.kind}/${target.name}, which is not among the resources`);
    fastJsonPatch.applyPatch(resource, parseYaml(patch) as fastJsonPatch.Operation[], true, true);
  }
}

/** A unit file's sections: each key's values in order, after systemd's reset-by-empty-assignment. */
export type Unit = Record<string, Record<string, string[]>>;

export function parseUnit(text: string, into: Unit = {}): Unit {
  let section: Record<string, string[]> | undefined;
  // A line ending in a backslash continues on the next.
  for (const line of text.replace(/\\\n/g, " ").split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(trimmed);
    if (header) {
      section = into[header[1]!] ??= {};
      continue;
    }
    const equals = trimmed.indexOf("=");
    if (!section || equals < 0) throw new Error(`not a unit line: ${trimmed}`);
    const key = trimmed.slice(0, equals).trim();
    const value = trimmed.slice(equals + 1).trim();
    if (value === "") section[key] = [];
    else (section[key] ??= []).push(value);
  }
  return into;
}

/** The single value of a key, or an error naming the key. */
export function unitValue(unit: Unit, section: string, key: string): string {
  const values = unit[section]?.[key] ?? [];
  if (values.length !== 1) throw new Error(`[${section}] ${key} has ${values.length} values, expected one`);
  return values[0]!;
}
