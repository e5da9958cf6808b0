/**
 * Tag and platform filters of a connected registry (docs/admin-api.md "repositoryFilters",
 * docs/edge-agent.md "Filters"): per repository in its scope, which tags the edge keeps
 * (include/exclude regular expressions, a semver range) and which platforms of an index it
 * fetches. Pure rules, no I/O: the management API validates with them, the edge matches.
 *
 * Regular expressions match the WHOLE tag (`v1.*` is `^(?:v1.*)$`). To keep a filter from
 * hanging the registry or an edge on a crafted pattern (catastrophic backtracking), a pattern
 * is at most 128 characters, and the constructs that make a backtracking engine exponential
 * are refused: a repeated group that holds a repetition or an alternation (`(a+)+`, `(a|a)*`),
 * backreferences and lookarounds; and at most 4 repetitions per pattern. Anchored, over a tag
 * of at most 128 characters, what remains is polynomial of low degree (4 adjacent `a*` split
 * 128 characters about 366,000 ways: ~0.1 s for one hostile tag on one core, the worst case;
 * ordinary patterns take microseconds). Only edges evaluate patterns; the API only compiles them.
 */
import semver from "semver";
import { z } from "zod";

export const MAX_FILTER_PATTERN_LENGTH = 128;
const MAX_REPETITIONS = 4;
const MAX_PATTERNS = 20;
const PLATFORM_PATTERN = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;

export const repositoryFilterSchema = z
  .object({
    repository: z.string().min(1),
    tags: z
      .object({
        include: z.array(z.string()).max(MAX_PATTERNS).optional(),
        exclude: z.array(z.string()).max(MAX_PATTERNS).optional(),
        semver: z.string().optional(),
      })
      .strict()
      .optional(),
    platforms: z.array(z.string()).min(1, "give at least one platform, or leave platforms out to keep them all").optional(),
  })
  .strict();

export type RepositoryFilter = z.infer<typeof repositoryFilterSchema>;

export type FilterCheck = { ok: true; filters: RepositoryFilter[] } | { ok: false; message: string };

/** Checks filters against the repositories in scope: one per repository, each pattern, range and platform well formed. */
export function validateRepositoryFilters(filters: RepositoryFilter[], repositories: readonly string[]): FilterCheck {
  const seen = new Set<string>();
  for (const filter of filters) {
    const where = `repositoryFilters for "${filter.repository}"`;
    if (!repositories.includes(filter.repository)) {
      return { ok: false, message: `${where}: repository "${filter.repository}" is not in this connected registry's scope (${repositories.join(", ")}); add it first` };
    }
    if (seen.has(filter.repository)) return { ok: false, message: `${where}: the repository has two filters; give one` };
    seen.add(filter.repository);
    for (const key of ["include", "exclude"] as const) {
      for (const [i, pattern] of (filter.tags?.[key] ?? []).entries()) {
        const problem = patternProblem(pattern);
        if (problem) return { ok: false, message: `${where}: tags.${key}[${i}] "${pattern}" ${problem}` };
      }
    }
    const range = filter.tags?.semver;
    if (range !== undefined && semver.validRange(range) === null) {
      return { ok: false, message: `${where}: tags.semver "${range}" is not a semver range (such as ">=1.2.0 <2" or "^1.4")` };
    }
    for (const platform of filter.platforms ?? []) {
      if (!PLATFORM_PATTERN.test(platform)) return { ok: false, message: `${where}: platform "${platform}" is not os/architecture[/variant], such as linux/amd64 or linux/arm/v7` };
    }
  }
  return { ok: true, filters: filters.map(normalized) };
}

/** Why a pattern is refused, or undefined when it is fine. */
export function patternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return "is empty";
  if (pattern.length > MAX_FILTER_PATTERN_LENGTH) return `is longer than ${MAX_FILTER_PATTERN_LENGTH} characters`;
  try {
    new RegExp(pattern, "u");
  } catch (error) {
    return `is not a valid regular expression: ${(error as Error).message}`;
  }
  return backtrackingRisk(pattern);
}

/**
 * Refuses the constructs that make a backtracking engine exponential: a group with a
 * quantifier inside that is quantified again (star height above one), backreferences and
 * lookarounds. A scan of the pattern's structure, not a full parser: it errs on refusing.
 */
function backtrackingRisk(pattern: string): string | undefined {
  const groups: boolean[] = []; // per open group: whether it holds a quantifier or an alternation
  let repetitions = 0;
  let lastGroupQuantified = false; // the group that just closed held a quantifier
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\") {
      const next = pattern[i + 1] ?? "";
      if (/[1-9k]/.test(next)) return "uses a backreference, which filters do not allow";
      i++;
      lastGroupQuantified = false;
      continue;
    }
    if (c === "[") {
      // A character class: skip to its end (escapes inside included).
      for (i++; i < pattern.length && pattern[i] !== "]"; i++) if (pattern[i] === "\\") i++;
      lastGroupQuantified = false;
      continue;
    }
    if (c === "(") {
      if (/^\?(=|!|<=|<!)/.test(pattern.slice(i + 1, i + 4))) return "uses a lookaround, which filters do not allow";
      groups.push(false);
      lastGroupQuantified = false;
      continue;
    }
    if (c === ")") {
      lastGroupQuantified = groups.pop() ?? false;
      if (lastGroupQuantified && groups.length > 0) groups[groups.length - 1] = true;
      // A group right after ")" is checked by the quantifier that may follow.
      const next = pattern[i + 1];
      if (lastGroupQuantified && (next === "*" || next === "+" || next === "{")) {
        return "repeats a group that holds a repetition or an alternation (such as (a+)+ or (a|b)*), which can take exponential time; write it without the nesting";
      }
      continue;
    }
    if (c === "|" && groups.length > 0) groups[groups.length - 1] = true;
    if (c === "*" || c === "+" || c === "{") {
      if (++repetitions > MAX_REPETITIONS) return `has more than ${MAX_REPETITIONS} repetitions (*, +, {n,m}), which can take too long on a long tag; simplify it`;
    }
    if (c === "*" || c === "+" || c === "?" || c === "{") {
      if (groups.length > 0 && c !== "?") groups[groups.length - 1] = true;
      if (c === "?" && groups.length > 0 && pattern[i - 1] !== "(") groups[groups.length - 1] = true;
    }
    lastGroupQuantified = false;
  }
  return undefined;
}

function normalized(filter: RepositoryFilter): RepositoryFilter {
  const tags = filter.tags && (filter.tags.include?.length || filter.tags.exclude?.length || filter.tags.semver) ? filter.tags : undefined;
  return { repository: filter.repository, ...(tags ? { tags } : {}), ...(filter.platforms ? { platforms: [...new Set(filter.platforms)] } : {}) };
}

/** A filter compiled once for matching. */
export interface CompiledFilter {
  filter: RepositoryFilter;
  keepsTag(tag: string): boolean;
  /** Whether an index's child with this platform is fetched; a child without a platform is kept (nothing to judge it by). */
  keepsPlatform(platform: Platform | undefined): boolean;
  hasPlatforms: boolean;
}

export interface Platform {
  os?: string;
  architecture?: string;
  variant?: string;
}

export function compileFilter(filter: RepositoryFilter): CompiledFilter {
  const whole = (pattern: string): RegExp => new RegExp(`^(?:${pattern})$`, "u");
  const include = (filter.tags?.include ?? []).map(whole);
  const exclude = (filter.tags?.exclude ?? []).map(whole);
  const range = filter.tags?.semver;
  const wanted = (filter.platforms ?? []).map((text) => {
    const [os, architecture, variant] = text.split("/");
    return { os, architecture, variant };
  });
  return {
    filter,
    hasPlatforms: wanted.length > 0,
    keepsTag(tag) {
      if (include.length > 0 && !include.some((re) => re.test(tag))) return false;
      if (exclude.some((re) => re.test(tag))) return false;
      if (range !== undefined) {
        // "v1.2.3" counts as 1.2.3; a tag that is no version is outside any range.
        const version = semver.valid(tag);
        if (version === null || !semver.satisfies(version, range)) return false;
      }
      return true;
    },
    keepsPlatform(platform) {
      if (wanted.length === 0 || !platform?.os || !platform.architecture) return true;
      return wanted.some((w) => w.os === platform.os && w.architecture === platform.architecture && (w.variant === undefined || w.variant === platform.variant));
    },
  };
}

export function platformText(platform: Platform | undefined): string {
  if (!platform?.os) return "an unnamed platform";
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
}
