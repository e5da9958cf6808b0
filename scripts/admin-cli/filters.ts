/**
 * The `repositoryFilters` of `connected-registry create|update` from flags (docs/admin-cli.md):
 * `--filters JSON|@FILE` gives the whole list; `--filter REPO` with `--tag-include`,
 * `--tag-exclude`, `--semver` and `--platforms` sets one repository's filter (the others are
 * kept on update), and `--filter REPO` alone removes it. The API validates the patterns.
 */
import { readFileSync } from "node:fs";
import type { RepositoryFilter } from "../../shared/domain/connected-registry/index.js";
import type { FlagSpec } from "./args.js";
import type { CommandContext } from "./context.js";
import { UsageError } from "./errors.js";

export const filterFlags: FlagSpec[] = [
  { name: "filters", kind: "string", value: "JSON|@FILE", help: 'every repository filter as the API\'s JSON list, such as [{"repository":"app","tags":{"semver":">=1.2 <2"}}]; "[]" removes them' },
  { name: "filter", kind: "string", value: "REPOSITORY", help: "the repository the --tag-*, --semver and --platforms flags filter; alone, removes its filter" },
  { name: "tag-include", kind: "list", value: "REGEX...", help: "with --filter: keep tags matching one of these (whole-tag match)" },
  { name: "tag-exclude", kind: "list", value: "REGEX...", help: "with --filter: drop tags matching one of these (whole-tag match)" },
  { name: "semver", kind: "string", value: "RANGE", help: 'with --filter: keep tags that are versions in this range, such as ">=1.2 <2"' },
  { name: "platforms", kind: "list", value: "OS/ARCH[/VARIANT],...", help: "with --filter: fetch only these platforms of an index, such as linux/amd64,linux/arm64" },
];

/** `{ repositoryFilters }` when a filter flag was given; `current` reads the registry's filters (update keeps the others). */
export async function filtersBody(ctx: CommandContext, current?: () => Promise<{ repositoryFilters: RepositoryFilter[] }>): Promise<{ repositoryFilters?: RepositoryFilter[] }> {
  const f = ctx.flags;
  const all = f.string("filters");
  const repository = f.string("filter");
  const include = f.list("tag-include");
  const exclude = f.list("tag-exclude");
  const range = f.string("semver");
  const platforms = f.list("platforms")?.flatMap((value) => value.split(/[\s,]+/)).filter(Boolean);
  const partsGiven = include !== undefined || exclude !== undefined || range !== undefined || platforms !== undefined;
  if (all !== undefined && repository !== undefined) throw new UsageError("give --filters or --filter, not both", f.command);
  if (partsGiven && repository === undefined) throw new UsageError("--tag-include, --tag-exclude, --semver and --platforms need --filter REPOSITORY", f.command);
  if (all !== undefined) return { repositoryFilters: parseFilters(all, f.command) };
  if (repository === undefined) return {};
  const tags = { ...(include ? { include } : {}), ...(exclude ? { exclude } : {}), ...(range !== undefined ? { semver: range } : {}) };
  const filter: RepositoryFilter = { repository, ...(Object.keys(tags).length > 0 ? { tags } : {}), ...(platforms ? { platforms } : {}) };
  const others = current ? (await current()).repositoryFilters.filter((other) => other.repository !== repository) : [];
  return { repositoryFilters: partsGiven ? [...others, filter] : others };
}

function parseFilters(text: string, command: string): RepositoryFilter[] {
  let json = text;
  if (text.startsWith("@")) {
    try {
      json = readFileSync(text.slice(1), "utf8");
    } catch (error) {
      throw new UsageError(`--filters ${text}: cannot read the file (${(error as Error).message})`, command);
    }
  }
  try {
    const parsed = JSON.parse(json) as unknown;
    if (!Array.isArray(parsed)) throw new Error("not a JSON list");
    return parsed as RepositoryFilter[];
  } catch (error) {
    throw new UsageError(`--filters must be a JSON list of filters (or @FILE holding one): ${(error as Error).message}`, command);
  }
}
