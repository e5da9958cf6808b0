/**
 * npm run push:image: copies the built OCI layout to a registry with skopeo, keeping its
 * digest. By default the destination is our own cloud registry (REGISTRY_ENDPOINT, as for
 * registry-admin) under connected-registry/edge-agent:<version>, so edge machines pull
 * their runtime from the registry they mirror.
 *   node dist/scripts/edge-image/push.js [--layout DIR] [--endpoint URL | --destination docker://HOST/REPO:TAG]
 * Credentials: REGISTRY_USERNAME and REGISTRY_PASSWORD (a token with push on the
 * repository), handed to skopeo in a private auth file, never on its command line.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";

const execFileAsync = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

const IMAGE_REPOSITORY = "connected-registry/edge-agent";

/** The tag the layout's index names (build.ts tags with the agent's version). */
async function layoutTag(layout: string): Promise<string> {
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests?: { annotations?: Record<string, string> }[] };
  const tag = index.manifests?.[0]?.annotations?.["org.opencontainers.image.ref.name"];
  if (!tag) throw new Error(`${layout} is not an image layout from npm run build:image (no tagged manifest in index.json)`);
  return tag;
}

/** `https://registry.example.com` -> its host, and whether TLS is verified (plain HTTP only on a trusted network). */
function registryOf(endpoint: string): { host: string; tls: boolean } {
  const url = new URL(/^[a-z]+:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`);
  return { host: url.host, tls: url.protocol === "https:" };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    strict: true,
    options: { layout: { type: "string" }, endpoint: { type: "string" }, destination: { type: "string" } },
  });
  const layout = resolve(values.layout ?? join(repoRoot, "edge-agent", "dist", "image"));
  const tag = await layoutTag(layout);
  const endpoint = values.endpoint ?? (process.env.REGISTRY_ENDPOINT || undefined);
  if (!values.destination && !endpoint) throw new Error("give --endpoint (or set REGISTRY_ENDPOINT) to push to the cloud registry, or --destination docker://HOST/REPOSITORY:TAG");
  const registry = registryOf(values.destination ? values.destination.replace(/^docker:\/\//, "").split("/")[0]! : endpoint!);
  const destination = values.destination ?? `docker://${registry.host}/${IMAGE_REPOSITORY}:${tag}`;
  if (!destination.startsWith("docker://")) throw new Error(`--destination must be docker://HOST/REPOSITORY:TAG, not "${destination}"`);

  const username = process.env.REGISTRY_USERNAME;
  const password = process.env.REGISTRY_PASSWORD;
  const authDir = await mkdtemp(join(tmpdir(), "push-image-"));
  try {
    const authFile = join(authDir, "auth.json");
    const auths = username && password ? { [registry.host]: { auth: Buffer.from(`${username}:${password}`).toString("base64") } } : {};
    await writeFile(authFile, JSON.stringify({ auths }), { mode: 0o600 });
    await execFileAsync(
      "skopeo",
      [
        "copy",
        "--quiet",
        // Refuse rather than let skopeo convert the manifest: the pushed digest is the built one.
        "--preserve-digests",
        "--dest-authfile", authFile,
        `--dest-tls-verify=${registry.tls}`,
        `oci:${layout}:${tag}`,
        destination,
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    );
  } finally {
    await rm(authDir, { recursive: true, force: true });
  }
  process.stderr.write(`pushed oci:${layout}:${tag} to ${destination}\n`);
}

main().catch((error: unknown) => {
  const stderr = (error as { stderr?: string }).stderr;
  process.stderr.write(`push:image: ${stderr?.trim() || (error instanceof Error ? error.message : String(error))}\n`);
  process.exit(1);
});
