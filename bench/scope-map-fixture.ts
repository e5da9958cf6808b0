/**
 * A 500-action scope map (the per-scope-map limit) as a large real one looks: exact
 * repositories, `a/b/*` prefix wildcards at several depths and a few deep `*`-free names,
 * with no global `*` (which would answer every check at once). Deterministic from a seed,
 * so each of 20,000 tokens can get a different one; plus the lookups to time against it.
 */
import type { RepositoryAction } from "../shared/domain/scope-map-actions.js";

export const EXACT_REPOSITORIES = 100;
export const PREFIXES = 40;
export const DEEP_NAMES = 10;
const EXACT_ACTIONS: RepositoryAction[] = ["content/read", "content/write", "metadata/read"];
const WIDE_ACTIONS: RepositoryAction[] = ["content/read", "content/write", "content/delete", "metadata/read"];

/** 100 x 3 + 40 x 4 + 10 x 4 = 500 actions. */
export const ACTIONS_PER_SCOPE_MAP = EXACT_REPOSITORIES * EXACT_ACTIONS.length + (PREFIXES + DEEP_NAMES) * WIDE_ACTIONS.length;

export interface ScopeMapShape {
  exact: string[];
  /** Patterns, each ending in "/*". */
  prefixes: string[];
  deep: string[];
}

/** A small xorshift PRNG: the same seed gives the same scope map on every run. */
export function prng(seed: number): () => number {
  let state = (seed * 2654435761) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
}

/**
 * The repositories of scope map number `seed`, drawn from a registry of 500 teams x 40
 * services, so different tokens overlap as they do in a real registry. `pinned` repositories
 * (e.g. the one the HTTP benchmark pulls) come first among the exact names.
 */
export function scopeMapShape(seed: number, pinned: readonly string[] = []): ScopeMapShape {
  const random = prng(seed + 1);
  const pick = (n: number): number => Math.floor(random() * n);
  const exact = new Set<string>(pinned);
  while (exact.size < EXACT_REPOSITORIES) {
    exact.add(pick(3) === 0 ? `svc${pick(2000)}` : `team${pick(500)}/service-${pick(40)}`);
  }
  const prefixes = new Set<string>();
  while (prefixes.size < PREFIXES) {
    const depth = 1 + (prefixes.size % 3);
    const parts = [`org${pick(100)}`, `project-${pick(50)}`, `env${pick(5)}`].slice(0, depth);
    prefixes.add(`${parts.join("/")}/*`);
  }
  const deep = new Set<string>();
  while (deep.size < DEEP_NAMES) deep.add(`platform/edge/site-${pick(300)}/rack-${pick(20)}/node-${pick(50)}/agent`);
  return { exact: [...exact], prefixes: [...prefixes], deep: [...deep] };
}

/** The scope map's actions as the management API takes them ("repositories/<pattern>/<action>"). */
export function scopeMapActionTexts(shape: ScopeMapShape): string[] {
  return [
    ...shape.exact.flatMap((name) => EXACT_ACTIONS.map((action) => `repositories/${name}/${action}`)),
    ...shape.prefixes.flatMap((pattern) => WIDE_ACTIONS.map((action) => `repositories/${pattern}/${action}`)),
    ...shape.deep.flatMap((name) => WIDE_ACTIONS.map((action) => `repositories/${name}/${action}`)),
  ];
}

export interface Lookup {
  repository: string;
  action: RepositoryAction;
  expected: boolean;
}

export type LookupKind = "exact hit" | "prefix hit (nested)" | "deep name hit" | "miss: unknown name" | "miss: deep unknown name" | "miss: action not granted";
export const LOOKUP_KINDS: LookupKind[] = [
  "exact hit",
  "prefix hit (nested)",
  "deep name hit",
  "miss: unknown name",
  "miss: deep unknown name",
  "miss: action not granted",
];

/** `count` lookups of one kind against `shape`, with what `allows` must answer. */
export function lookups(shape: ScopeMapShape, kind: LookupKind, count: number, seed: number): Lookup[] {
  const random = prng(seed + 7919);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const out: Lookup[] = [];
  for (let i = 0; i < count; i++) {
    switch (kind) {
      case "exact hit":
        out.push({ repository: pick(shape.exact), action: pick(EXACT_ACTIONS), expected: true });
        break;
      case "prefix hit (nested)": {
        // One to three levels below the prefix: org1/project-2/* covers org1/project-2/a/b.
        const base = pick(shape.prefixes).slice(0, -2);
        const below = ["app", "app/api", "app/api/v2"][i % 3];
        out.push({ repository: `${base}/${below}`, action: pick(WIDE_ACTIONS), expected: true });
        break;
      }
      case "deep name hit":
        out.push({ repository: pick(shape.deep), action: pick(WIDE_ACTIONS), expected: true });
        break;
      case "miss: unknown name":
        out.push({ repository: `nobody${i % 1000}/thing`, action: pick(WIDE_ACTIONS), expected: false });
        break;
      case "miss: deep unknown name":
        out.push({ repository: `platform/edge/site-x${i % 1000}/rack-1/node-1/agent`, action: pick(WIDE_ACTIONS), expected: false });
        break;
      case "miss: action not granted":
        // Exact repositories carry no delete; "svc" names have no "/" and so no prefix either.
        out.push({ repository: pick(shape.exact), action: "content/delete", expected: false });
        break;
    }
  }
  return out;
}
