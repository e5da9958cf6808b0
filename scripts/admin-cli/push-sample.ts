/**
 * `push-sample`: builds a tiny image here (one layer with one text file, and a config for
 * this machine's platform) and pushes it with a token's credentials, so a fresh registry has
 * something to pull with no internet and no image builder: the README's quickstart starts
 * with it. The same flags always give the same digest (fixed mtime, deterministic tar).
 */
import { createHash } from "node:crypto";
import { buildLayer } from "../edge-image/layer.js";
import type { CommandSpec } from "./args.js";
import type { CommandContext } from "./context.js";
import { UsageError } from "./errors.js";

const MEDIA = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

/** Go's names for Node's architectures, as image configs spell them. */
const ARCHITECTURES: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x" };

const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

export interface SampleImage {
  manifest: Buffer;
  digest: string;
  config: Buffer;
  layer: { digest: string; bytes: Buffer };
}

export async function buildSampleImage(text: string, architecture = ARCHITECTURES[process.arch] ?? process.arch): Promise<SampleImage> {
  const created = new Date("2024-01-01T00:00:00Z");
  const layer = await buildLayer([{ type: "file", path: "hello.txt", mode: 0o644, content: Buffer.from(`${text}\n`) }], created);
  const config = Buffer.from(
    JSON.stringify({
      created: created.toISOString(),
      architecture,
      os: "linux",
      config: { Cmd: ["/hello.txt"], Labels: { "org.opencontainers.image.description": "registry-admin push-sample: one text file, for trying the registry" } },
      rootfs: { type: "layers", diff_ids: [layer.diffId] },
      history: [{ created: created.toISOString(), created_by: "registry-admin push-sample" }],
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MEDIA.layer, digest: layer.digest, size: layer.compressed.length }],
    }),
  );
  return { manifest, digest: sha256(manifest), config, layer: { digest: layer.digest, bytes: layer.compressed } };
}

export const pushSampleCommands: CommandSpec<CommandContext>[] = [
  {
    path: ["push-sample"],
    summary: "Build a tiny image here (one text file) and push it, to try the registry with no internet and no image builder.",
    credentials: "token",
    flags: [
      { name: "image", short: "t", kind: "string", required: true, value: "REPOSITORY:TAG", help: "where to push it, e.g. hello-world:latest" },
      { name: "text", kind: "string", value: "TEXT", help: "what the image's /hello.txt says (default: Hello from the connected registry)" },
    ],
    examples: ["registry-admin push-sample --image hello-world:latest -u pusher -p \"$PUSH_PASSWORD\""],
    run: async (ctx) => {
      const image = ctx.flags.requiredString("image");
      const match = /^([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*):([A-Za-z0-9_][A-Za-z0-9._-]{0,127})$/.exec(image);
      if (!match) throw new UsageError(`--image must be REPOSITORY:TAG in lower case, as hello-world:latest, not "${image}"`, ctx.flags.command);
      const [, repository, tag] = match;
      const sample = await buildSampleImage(ctx.flags.string("text") ?? "Hello from the connected registry");
      const registry = ctx.registry();
      await registry.pushBlob(repository!, sample.layer.digest, sample.layer.bytes);
      await registry.pushBlob(repository!, sha256(sample.config), sample.config);
      await registry.putManifest(repository!, tag!, MEDIA.manifest, sample.manifest);
      const result = { image: `${repository}:${tag}`, digest: sample.digest, size: sample.manifest.length + sample.config.length + sample.layer.bytes.length };
      ctx.print(result, () => `pushed ${result.image}@${result.digest} (${result.size} bytes)\n`);
    },
  },
];
