/**
 * `repository list|show-tags|delete|untag`, as `az acr repository`. The management API has
 * no repository endpoints, so these use the /v2/ Distribution API with a token's Basic
 * credentials (--username/--password or REGISTRY_USERNAME/REGISTRY_PASSWORD): the token
 * sees what its scope map lets it read, and deletes need content/delete.
 */
import type { CommandSpec, FlagSpec } from "./args.js";
import type { RegistryApi } from "./client.js";
import type { CommandContext } from "./context.js";
import { UsageError } from "./errors.js";
import { renderTable } from "./table.js";

/** Tags resolved to digests at once when a whole repository is deleted. */
const RESOLVE_BATCH = 16;

const yes: FlagSpec = { name: "yes", short: "y", kind: "boolean", help: "accepted for az compatibility; nothing is asked" };

/** `repo:tag` or `repo@sha256:...` (no registry host: the endpoint is the registry). */
export function parseImage(image: string, command: string): { repository: string; reference: string; byDigest: boolean } {
  const at = image.indexOf("@");
  if (at > 0) return { repository: image.slice(0, at), reference: image.slice(at + 1), byDigest: true };
  const colon = image.lastIndexOf(":");
  if (colon > 0 && colon > image.lastIndexOf("/") && colon < image.length - 1) return { repository: image.slice(0, colon), reference: image.slice(colon + 1), byDigest: false };
  throw new UsageError(`--image must be <repository>:<tag> or <repository>@<digest>, not "${image}"`, command);
}

const repositoryName: FlagSpec = { name: "name", short: "n", kind: "string", value: "REPOSITORY", help: "the repository (the registry is --endpoint or --registry/-r)" };
const repositoryFlag: FlagSpec = { name: "repository", kind: "string", value: "REPOSITORY", help: "the repository, as az spells it" };

/**
 * --repository, or --name. In az, `-n` on these verbs names the registry; here the registry
 * is --endpoint or --registry/-r, so given with --repository it is refused, not misread.
 */
function repositoryOf(ctx: CommandContext): string {
  const name = ctx.flags.string("name");
  const repository = ctx.flags.string("repository");
  if (name !== undefined && repository !== undefined) {
    throw new UsageError(`--name here is the repository, as --repository is; choose the registry with --registry/-r (a saved login) or --endpoint`, ctx.flags.command);
  }
  const chosen = repository ?? name;
  if (chosen === undefined) throw new UsageError("missing required flag --repository (or --name)", ctx.flags.command);
  return chosen;
}

export const repositoryCommands: CommandSpec<CommandContext>[] = [
  {
    path: ["repository", "list"],
    summary: "List the repositories the token may read (GET /v2/_catalog, every page).",
    credentials: "token",
    flags: [],
    run: async (ctx) => {
      const repositories = await ctx.registry().catalog();
      ctx.print({ repositories }, () => renderTable([{ header: "REPOSITORY", value: (name: string) => name }], repositories));
    },
  },
  {
    path: ["repository", "show-tags"],
    summary: "List the tags of a repository (GET /v2/<repository>/tags/list, every page).",
    credentials: "token",
    flags: [repositoryName, repositoryFlag],
    run: async (ctx) => {
      const name = repositoryOf(ctx);
      const tags = await ctx.registry().tags(name);
      ctx.print({ name, tags }, () => renderTable([{ header: "TAG", value: (tag: string) => tag }], tags));
    },
  },
  {
    path: ["repository", "show-manifests"],
    summary: "List a repository's tagged manifests: digest, tags, media type, platforms and size (config and layers).",
    credentials: "token",
    flags: [repositoryName, repositoryFlag],
    run: async (ctx) => {
      const repository = repositoryOf(ctx);
      const manifests = await showManifests(ctx.registry(), repository);
      ctx.print({ repository, manifests }, () =>
        renderTable(
          [
            { header: "DIGEST", value: (m: ManifestSummary) => m.digest },
            { header: "TAGS", value: (m) => m.tags.join(", ") },
            { header: "MEDIA TYPE", value: (m) => m.mediaType },
            { header: "PLATFORMS", value: (m) => m.platforms.join(", ") },
            { header: "SIZE", value: (m) => String(m.imageSize) },
          ],
          manifests,
        ),
      );
    },
  },
  {
    path: ["repository", "delete"],
    summary: "Delete an image (the manifest and every tag on it), or every tagged image of a repository.",
    credentials: "token",
    flags: [
      { name: "name", short: "n", kind: "string", value: "REPOSITORY", help: "delete every tagged manifest of this repository" },
      { name: "image", short: "t", kind: "string", value: "REPOSITORY:TAG|REPOSITORY@DIGEST", help: "delete this manifest and every tag that points at it" },
      yes,
    ],
    examples: ["registry-admin repository delete --image hello-world:old", "registry-admin repository delete --name scratch"],
    run: async (ctx) => {
      const command = ctx.flags.command;
      const name = ctx.flags.string("name");
      const image = ctx.flags.string("image");
      if ((name === undefined) === (image === undefined)) throw new UsageError("give either --name or --image (not both)", command);
      const registry = ctx.registry();
      let repository: string;
      let digests: string[];
      if (image !== undefined) {
        const target = parseImage(image, command);
        repository = target.repository;
        digests = [await registry.resolve(repository, target.reference)];
      } else {
        repository = name!;
        const tags = await registry.tags(repository);
        const resolved: string[] = [];
        for (let i = 0; i < tags.length; i += RESOLVE_BATCH) {
          resolved.push(...(await Promise.all(tags.slice(i, i + RESOLVE_BATCH).map((tag) => registry.resolve(repository, tag)))));
        }
        digests = [...new Set(resolved)];
      }
      for (const digest of digests) await registry.deleteManifest(repository, digest);
      ctx.print({ repository, deleted: digests }, () => digests.map((digest) => `deleted ${repository}@${digest}\n`).join(""));
    },
  },
  {
    path: ["repository", "untag"],
    summary: "Remove a tag, keeping the manifest.",
    credentials: "token",
    flags: [{ name: "image", short: "t", kind: "string", required: true, value: "REPOSITORY:TAG", help: "the tag to remove" }],
    run: async (ctx) => {
      const target = parseImage(ctx.flags.requiredString("image"), ctx.flags.command);
      if (target.byDigest) throw new UsageError("--image must name a tag (<repository>:<tag>); to delete by digest use repository delete", ctx.flags.command);
      await ctx.registry().deleteManifest(target.repository, target.reference);
    },
  },
];

export interface ManifestSummary {
  digest: string;
  tags: string[];
  mediaType: string;
  /** os/architecture[/variant] of each image: the index's entries, or the image's config. */
  platforms: string[];
  /** Bytes of the manifest(s), configs and layers a pull of every platform fetches. */
  imageSize: number;
}

type Descriptor = { digest: string; size: number; platform?: { os?: string; architecture?: string; variant?: string } };

const platformText = (p: { os?: string; architecture?: string; variant?: string }): string => [p.os ?? "?", p.architecture ?? "?", ...(p.variant ? [p.variant] : [])].join("/");

async function showManifests(registry: RegistryApi, repository: string): Promise<ManifestSummary[]> {
  const tags = await registry.tags(repository);
  const byDigest = new Map<string, ManifestSummary>();
  for (const tag of tags) {
    const manifest = await registry.manifest(repository, tag);
    const known = byDigest.get(manifest.digest);
    if (known) {
      known.tags.push(tag);
      continue;
    }
    const summary: ManifestSummary = { digest: manifest.digest, tags: [tag], mediaType: manifest.mediaType, platforms: [], imageSize: manifest.size };
    const children: Descriptor[] = manifest.body.manifests ?? [];
    if (children.length > 0) {
      for (const child of children) {
        if (child.platform) summary.platforms.push(platformText(child.platform));
        const image = await registry.manifest(repository, child.digest);
        summary.imageSize += image.size + imageBytes(image.body);
      }
    } else {
      summary.imageSize += imageBytes(manifest.body);
      const config: Descriptor | undefined = manifest.body.config;
      if (config) summary.platforms.push(platformText(await registry.jsonBlob(repository, config.digest)));
    }
    byDigest.set(manifest.digest, summary);
  }
  return [...byDigest.values()];
}

/** Config and layer bytes an image manifest names. */
function imageBytes(body: { config?: Descriptor; layers?: Descriptor[] }): number {
  return (body.config?.size ?? 0) + (body.layers ?? []).reduce((sum, layer) => sum + layer.size, 0);
}
