/**
 * `import`, as `az acr import`: POST /management/import, then GET
 * /management/operations/<id> until it ends, with a progress bar on stderr. A failed
 * import exits 1 with the operation's error code and message (docs/import.md).
 */
import type { CommandSpec } from "./args.js";
import { segment, type CommandContext } from "./context.js";
import { normalizeEndpoint, type ManagementApi } from "./client.js";
import { ApiError } from "./errors.js";
import { readProfiles } from "./profiles.js";
import { progressReporter, progressText, type ImportProgress } from "./progress.js";
import { renderDetails } from "./table.js";

export interface ImportOperation {
  id: string;
  kind?: string;
  status: "Running" | "Succeeded" | "Failed";
  source: string;
  targetTags?: string[];
  untaggedTargetRepositories?: string[];
  mode?: string;
  includeReferrers?: boolean;
  referrers?: string[];
  progress?: ImportProgress;
  digest?: string | null;
  error?: { code: string; message: string } | null;
  /** While it runs: why the last try stopped (the import is tried again). */
  lastRetry?: { attempt: number; message: string; at: string };
  createdAt?: string;
  updatedAt?: string;
  endedAt?: string | null;
}

/** How often the operation is read while it runs. */
export const POLL_INTERVAL_MS = 500;

export function renderOperation(operation: ImportOperation): string {
  return renderDetails([
    ["Operation", operation.id],
    ["Status", operation.status],
    ["Source", operation.source],
    ["Digest", operation.digest],
    ["Target tags", operation.targetTags ?? []],
    ["Untagged targets", operation.untaggedTargetRepositories ?? []],
    ["Mode", operation.mode],
    ["Referrers", operation.includeReferrers === false ? "not copied (--no-referrers)" : (operation.referrers ?? [])],
    ["Progress", operation.progress ? progressText(operation.progress) : null],
    ["Error", operation.error ? `${operation.error.code}: ${operation.error.message}` : null],
    ["Started", operation.createdAt],
    ["Ended", operation.endedAt],
  ]);
}

/** The API names its own mode ("import with mode Force"); here that is the --force flag. */
function forCli(code: string, message: string): string {
  return code === "TagExists" ? message.replace(/import with mode Force to replace/, "run again with --force to replace") : message;
}

async function startImport(api: ManagementApi, body: Record<string, unknown>): Promise<ImportOperation> {
  try {
    return await api.call<ImportOperation>("POST", "import", body);
  } catch (error) {
    if (error instanceof ApiError) throw new ApiError(error.status, error.code, forCli(error.code, error.message));
    throw error;
  }
}

/**
 * --source, with --registry in front of it when given: a saved profile stands for its host
 * (or for this registry itself, whose repositories are named without a host), anything else
 * is taken as a registry host.
 */
async function sourceImage(ctx: CommandContext, source: string): Promise<string> {
  const registry = ctx.flags.string("source-registry");
  if (registry === undefined) return source;
  const { profiles } = await readProfiles(ctx.io.env);
  const profile = profiles[registry];
  if (!profile) return `${registry.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "")}/${source}`;
  if (normalizeEndpoint(profile.endpoint) === ctx.endpoint()) return source;
  return `${new URL(normalizeEndpoint(profile.endpoint)).host}/${source}`;
}

export const importCommands: CommandSpec<CommandContext>[] = [
  {
    path: ["import"],
    summary: "Import an image from another registry, or from a repository of this one, server side.",
    credentials: "admin",
    flags: [
      { name: "source", kind: "string", required: true, value: "IMAGE", help: 'e.g. docker.io/library/alpine:3.20, <registry>/<repo>@sha256:..., or "<repo>:<tag>" of this registry' },
      { name: "image", short: "t", kind: "list", value: "REPOSITORY:TAG", help: "a target tag; repeatable (default: the source's repository and tag)" },
      { name: "repository", kind: "list", value: "REPOSITORY", help: "a repository to import into without a tag; repeatable" },
      { name: "username", short: "u", kind: "string", value: "USER", help: "for the source registry" },
      { name: "password", short: "p", kind: "string", value: "PASSWORD", help: "for the source registry" },
      { name: "force", kind: "boolean", help: "replace target tags that exist (default: refuse with TagExists)" },
      { name: "no-referrers", kind: "boolean", help: "copy the image only, not its referrers (signatures, SBOMs; copied by default)" },
      { name: "registry", kind: "string", means: "source-registry", value: "REGISTRY", help: "the source registry, as az's --registry: a saved profile (registry-admin login) or a host; --source is then REPOSITORY:TAG in it" },
      { name: "name", short: "n", kind: "string", means: "registry", value: "PROFILE", help: "the registry to import into, as az's --name: a saved profile (default: --endpoint, REGISTRY_ENDPOINT or the last login)" },
      { name: "no-wait", kind: "boolean", help: "print the operation as it started and return; do not follow it" },
    ],
    examples: ["registry-admin import --source docker.io/library/alpine:3.20 --image base/alpine:3.20 --image base/alpine:latest", "registry-admin import --source hello-world:latest --image archive/hello-world:2024"],
    run: async (ctx) => {
      const f = ctx.flags;
      const api = ctx.management();
      const targetTags = f.list("image");
      const untagged = f.list("repository");
      const username = f.string("username");
      const password = f.string("password");
      const source = await sourceImage(ctx, f.requiredString("source"));
      let operation = await startImport(api, {
        source,
        ...(targetTags ? { targetTags } : {}),
        ...(untagged ? { untaggedTargetRepositories: untagged } : {}),
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
        mode: f.boolean("force") ? "Force" : "NoForce",
        ...(f.boolean("no-referrers") ? { includeReferrers: false } : {}),
      });
      if (!f.boolean("no-wait")) {
        const reporter = progressReporter(ctx.io.stderr, `importing ${source}`);
        try {
          let retryShown: number | undefined;
          while (operation.status === "Running") {
            if (operation.lastRetry && operation.lastRetry.attempt !== retryShown) {
              retryShown = operation.lastRetry.attempt;
              ctx.note(`try ${operation.lastRetry.attempt} stopped, trying again: ${operation.lastRetry.message}`);
            }
            reporter.update(operation.progress ?? {});
            await ctx.sleep(POLL_INTERVAL_MS);
            operation = await api.call<ImportOperation>("GET", `operations/${segment(operation.id)}`);
          }
          if (operation.status === "Succeeded") reporter.update(operation.progress ?? {});
        } finally {
          reporter.finish(operation.status === "Succeeded");
        }
      }
      // A failure goes to stderr; scripts that asked for JSON also get the ended operation on stdout.
      if (operation.status !== "Failed" || ctx.json) ctx.print(operation, () => renderOperation(operation));
      if (operation.status === "Failed") {
        const code = operation.error?.code ?? "ImportFailed";
        throw new ApiError(0, code, `import ${operation.id} failed: ${forCli(code, operation.error?.message ?? "the operation reports no reason")}`);
      }
    },
  },
];
