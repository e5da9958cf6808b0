/**
 * End-to-end tests with the real skopeo client against the local stack: what a user
 * pushing, pulling, listing and deleting images with skopeo sees. Every image is built
 * on disk by test/support/oci-layout.ts, so the expected digests are known up front and
 * a round trip must reproduce them byte for byte.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DOCKER_MANIFEST_MEDIA_TYPE,
  LAYOUT_PLATFORMS,
  OCI_INDEX_MEDIA_TYPE,
  OCI_REF_NAME_ANNOTATION,
  readLayoutBlobs,
  readLayoutIndex,
  sha256Digest,
  writeDockerDirImage,
  writeMultiArchOciLayout,
  type DockerDirImage,
  type MultiArchLayout,
  type Platform,
} from "../support/oci-layout.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const execFileAsync = promisify(execFile);

/** What `skopeo list-tags` prints. */
interface TagList {
  Repository: string;
  Tags: string[];
}

/** The part of `skopeo inspect` (without --raw) these tests read. */
interface InspectOutput {
  Digest: string;
  Architecture: string;
  Os: string;
  Layers: string[];
}

/**
 * Runs skopeo with configuration confined to a temporary folder: an empty auth file, an
 * accept-anything signature policy, no registries.d and an empty registries.conf, so
 * credentials, mirrors or signature rules of the machine's user cannot change a result.
 */
class Skopeo {
  private constructor(
    private readonly configDir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static async create(): Promise<Skopeo> {
    const configDir = await mkdtemp(join(tmpdir(), "skopeo-config-"));
    const authFile = join(configDir, "auth.json");
    const registriesConf = join(configDir, "registries.conf");
    await writeFile(authFile, "{}");
    await writeFile(join(configDir, "policy.json"), JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
    await writeFile(registriesConf, "");
    await mkdir(join(configDir, "registries.d"));
    return new Skopeo(configDir, { ...process.env, REGISTRY_AUTH_FILE: authFile, CONTAINERS_REGISTRIES_CONF: registriesConf });
  }

  /** Runs one skopeo command and returns its standard output as raw bytes. */
  async run(command: string, args: string[], globalFlags: string[] = []): Promise<Buffer> {
    const confined = ["--policy", join(this.configDir, "policy.json"), "--registries.d", join(this.configDir, "registries.d")];
    const authFile = ["--authfile", join(this.configDir, "auth.json")];
    const { stdout } = await execFileAsync("skopeo", [...confined, ...globalFlags, command, ...authFile, ...args], {
      env: this.env,
      encoding: "buffer",
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  }

  /** `skopeo copy` with TLS off on both sides, keeping every manifest exactly as it is. */
  async copy(source: string, destination: string, flags: string[] = []): Promise<void> {
    await this.run("copy", ["--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests", "--quiet", ...flags, source, destination]);
  }

  async inspectRaw(image: string): Promise<Buffer> {
    return this.run("inspect", ["--raw", "--tls-verify=false", image]);
  }

  /** `skopeo inspect`, resolving an index to the image for `platform`. */
  async inspect(image: string, platform: Platform): Promise<InspectOutput> {
    // The --override-* flags are global ones, given before the command.
    const platformFlags = ["--override-os", platform.os, "--override-arch", platform.architecture];
    if (platform.variant) platformFlags.push("--override-variant", platform.variant);
    const stdout = await this.run("inspect", ["--tls-verify=false", image], platformFlags);
    return JSON.parse(stdout.toString("utf8")) as InspectOutput;
  }

  async listTags(repository: string): Promise<TagList> {
    const stdout = await this.run("list-tags", ["--tls-verify=false", repository]);
    return JSON.parse(stdout.toString("utf8")) as TagList;
  }

  async delete(image: string): Promise<void> {
    await this.run("delete", ["--tls-verify=false", image]);
  }

  async dispose(): Promise<void> {
    await rm(this.configDir, { recursive: true, force: true });
  }
}

/** Digests of the blobs' actual bytes, sorted: equal lists mean byte-identical blob sets. */
function contentDigests(blobs: Map<string, Buffer>): string[] {
  return [...blobs.values()].map(sha256Digest).sort();
}

const BLOB_DELIVERY_MODES = ["redirect", "stream"] as const;

describe.each(BLOB_DELIVERY_MODES)("skopeo against the registry with blob delivery %s", (delivery) => {
  let stack: TestStack;
  let skopeo: Skopeo;
  let workDir: string;
  let host: string;

  beforeAll(async () => {
    stack = await startTestStack({ settings: { REGISTRY_BLOB_DELIVERY: delivery } });
    host = stack.registryHost;
    skopeo = await Skopeo.create();
    workDir = await mkdtemp(join(tmpdir(), "skopeo-e2e-"));
  });

  afterAll(async () => {
    await stack?.destroy();
    await skopeo?.dispose();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  /** A fresh folder under the test's work folder. */
  const folder = (name: string): string => join(workDir, name);

  /** Writes a multi-arch layout with content unique to this test and pushes it with --all. */
  async function pushMultiArch(repository: string, tag: string): Promise<MultiArchLayout> {
    const layout = await writeMultiArchOciLayout(folder(`${repository}-src`), { tag, seed: `${delivery}/${repository}` });
    await skopeo.copy(`oci:${layout.dir}:${tag}`, `docker://${host}/${repository}:${tag}`, ["--all"]);
    return layout;
  }

  describe("a two-platform OCI image index", () => {
    const repository = "multiarch/app";
    const tag = "v1";
    let layout: MultiArchLayout;
    let pushedDigest: string;

    beforeAll(async () => {
      layout = await writeMultiArchOciLayout(folder("multiarch-src"), { tag, seed: `${delivery}/multiarch` });
      const digestFile = folder("multiarch.digest");
      await skopeo.copy(`oci:${layout.dir}:${tag}`, `docker://${host}/${repository}:${tag}`, ["--all", "--digestfile", digestFile]);
      pushedDigest = (await readFile(digestFile, "utf8")).trim();
    });

    it("reports the source index digest as the pushed digest", () => {
      expect(pushedDigest).toBe(layout.indexDigest);
    });

    it(`answers layer GETs by ${delivery === "redirect" ? "redirecting to blob storage" : "streaming the bytes"}`, async () => {
      // Guards the round trips below: skopeo really went through this delivery mode.
      const layer = layout.platforms[0]!.layerDigests[0]!;
      const response = await fetch(`${stack.registryUrl}/v2/${repository}/blobs/${layer}`, { redirect: "manual" });
      await response.arrayBuffer();
      expect(response.status).toBe(delivery === "redirect" ? 307 : 200);
    });

    it("copies a two-platform OCI index in and out with byte-identical digests", async () => {
      const out = folder("multiarch-out");
      await skopeo.copy(`docker://${host}/${repository}:${tag}`, `oci:${out}:${tag}`, ["--all"]);

      const tagged = (await readLayoutIndex(out)).filter((d) => d.annotations?.[OCI_REF_NAME_ANNOTATION] === tag);
      expect(tagged).toHaveLength(1);
      expect(tagged[0]).toMatchObject({ mediaType: OCI_INDEX_MEDIA_TYPE, digest: layout.indexDigest });

      // Same digests, and every file's bytes hash to its name: the index, both platform
      // manifests, both configs and all four layers came back unchanged.
      const pulled = await readLayoutBlobs(out);
      expect([...pulled.keys()].sort()).toEqual([...layout.blobs.keys()].sort());
      expect(contentDigests(pulled)).toEqual([...layout.blobs.keys()].sort());
    });

    it("copies the index to another repository of the same registry unchanged", async () => {
      // Registry to registry: skopeo offers the source repository's blobs for a cross-repository mount.
      const copyRepository = "multiarch/copy";
      await skopeo.copy(`docker://${host}/${repository}:${tag}`, `docker://${host}/${copyRepository}:${tag}`, ["--all"]);
      const out = folder("multiarch-copy-out");
      await skopeo.copy(`docker://${host}/${copyRepository}:${tag}`, `oci:${out}:${tag}`, ["--all"]);
      expect((await readLayoutIndex(out))[0]?.digest).toBe(layout.indexDigest);
      expect(contentDigests(await readLayoutBlobs(out))).toEqual([...layout.blobs.keys()].sort());
    });

    it("returns the exact index bytes from skopeo inspect --raw by tag", async () => {
      const raw = await skopeo.inspectRaw(`docker://${host}/${repository}:${tag}`);
      expect(sha256Digest(raw)).toBe(layout.indexDigest);
      expect(raw.equals(layout.blobs.get(layout.indexDigest)!)).toBe(true);
    });

    it("returns the exact bytes of every platform manifest from skopeo inspect --raw by digest", async () => {
      for (const platform of layout.platforms) {
        const raw = await skopeo.inspectRaw(`docker://${host}/${repository}@${platform.manifestDigest}`);
        expect(sha256Digest(raw)).toBe(platform.manifestDigest);
        expect(raw.equals(layout.blobs.get(platform.manifestDigest)!)).toBe(true);
      }
    });

    it.each(LAYOUT_PLATFORMS.map((p) => [`${p.os}/${p.architecture}`, p] as const))(
      "resolves the index to the %s image's config and layers",
      async (_name, platform) => {
        const expected = layout.platforms.find((p) => p.platform.architecture === platform.architecture)!;
        const inspected = await skopeo.inspect(`docker://${host}/${repository}:${tag}`, platform);
        expect(inspected.Digest).toBe(layout.indexDigest);
        expect(inspected.Os).toBe(platform.os);
        expect(inspected.Architecture).toBe(platform.architecture);
        expect(inspected.Layers).toEqual(expected.layerDigests);
      },
    );
  });

  describe("a Docker schema 2 image", () => {
    const repository = "docker-format";
    const tag = "1.0";
    let image: DockerDirImage;

    beforeAll(async () => {
      image = await writeDockerDirImage(folder("docker-src"), { seed: `${delivery}/docker` });
      await skopeo.copy(`dir:${image.dir}`, `docker://${host}/${repository}:${tag}`);
    });

    it("returns the exact Docker manifest bytes from skopeo inspect --raw", async () => {
      const raw = await skopeo.inspectRaw(`docker://${host}/${repository}:${tag}`);
      expect(raw.equals(image.manifest)).toBe(true);
      expect(JSON.parse(raw.toString("utf8"))).toMatchObject({ mediaType: DOCKER_MANIFEST_MEDIA_TYPE });
    });

    it.each(["HEAD", "GET"])("answers a %s for the manifest as Docker schema 2 under its original digest", async (method) => {
      // What a Docker client asks for; the answer must not be relabelled or converted to OCI.
      const response = await fetch(`${stack.registryUrl}/v2/${repository}/manifests/${tag}`, {
        method,
        headers: { Accept: DOCKER_MANIFEST_MEDIA_TYPE },
      });
      const body = Buffer.from(await response.arrayBuffer());
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe(DOCKER_MANIFEST_MEDIA_TYPE);
      expect(response.headers.get("docker-content-digest")).toBe(image.manifestDigest);
      if (method === "GET") expect(body.equals(image.manifest)).toBe(true);
    });

    it("copies the image back out with the same manifest and blobs", async () => {
      const out = folder("docker-out");
      await skopeo.copy(`docker://${host}/${repository}:${tag}`, `dir:${out}`);
      const manifest = await readFile(join(out, "manifest.json"));
      expect(sha256Digest(manifest)).toBe(image.manifestDigest);
      expect(manifest.equals(image.manifest)).toBe(true);
      for (const [digest, bytes] of image.blobs) {
        const pulled = await readFile(join(out, digest.slice("sha256:".length)));
        expect(sha256Digest(pulled), `blob ${digest}`).toBe(digest);
        expect(pulled.equals(bytes)).toBe(true);
      }
    });
  });

  describe("pulling by digest", () => {
    const repository = "by-digest";
    let layout: MultiArchLayout;

    beforeAll(async () => {
      layout = await pushMultiArch(repository, "release");
    });

    it("copies the whole index when addressed by the index digest", async () => {
      const out = folder("by-digest-index");
      await skopeo.copy(`docker://${host}/${repository}@${layout.indexDigest}`, `oci:${out}:pulled`, ["--all"]);
      const [descriptor] = await readLayoutIndex(out);
      expect(descriptor?.digest).toBe(layout.indexDigest);
      expect(contentDigests(await readLayoutBlobs(out))).toEqual([...layout.blobs.keys()].sort());
    });

    it("copies one platform's image when addressed by its manifest digest", async () => {
      const arm64 = layout.platforms.find((p) => p.platform.architecture === "arm64")!;
      const out = folder("by-digest-arm64");
      await skopeo.copy(`docker://${host}/${repository}@${arm64.manifestDigest}`, `oci:${out}:arm64`);
      const [descriptor] = await readLayoutIndex(out);
      expect(descriptor?.digest).toBe(arm64.manifestDigest);
      expect(contentDigests(await readLayoutBlobs(out))).toEqual([arm64.manifestDigest, arm64.configDigest, ...arm64.layerDigests].sort());
    });
  });

  describe("listing tags", () => {
    const repository = "tagged";

    it("lists every pushed tag, in lexical order", async () => {
      const image = await writeDockerDirImage(folder("tagged-src"), { seed: `${delivery}/tagged` });
      const tags = ["v2", "latest", "v1.0", "v10", "stable"];
      for (const tag of tags) await skopeo.copy(`dir:${image.dir}`, `docker://${host}/${repository}:${tag}`);

      const listed = await skopeo.listTags(`docker://${host}/${repository}`);
      expect(listed.Repository).toBe(`${host}/${repository}`);
      expect(listed.Tags).toEqual([...tags].sort());
    });

    it("fails for a repository nothing was pushed to", async () => {
      await expect(skopeo.listTags(`docker://${host}/never-pushed`)).rejects.toThrow(/404 \(Not Found\)|name unknown/i);
    });
  });

  describe("deleting a manifest", () => {
    const repository = "deletable";
    let doomed: DockerDirImage;
    let kept: DockerDirImage;

    beforeAll(async () => {
      doomed = await writeDockerDirImage(folder("doomed-src"), { seed: `${delivery}/doomed` });
      kept = await writeDockerDirImage(folder("kept-src"), { seed: `${delivery}/kept` });
      await skopeo.copy(`dir:${doomed.dir}`, `docker://${host}/${repository}:old`);
      await skopeo.copy(`dir:${doomed.dir}`, `docker://${host}/${repository}:old-alias`);
      await skopeo.copy(`dir:${kept.dir}`, `docker://${host}/${repository}:current`);
      await skopeo.delete(`docker://${host}/${repository}:old`);
    });

    it("makes skopeo inspect fail by tag and by digest", async () => {
      await expect(skopeo.inspectRaw(`docker://${host}/${repository}:old`)).rejects.toThrow(/manifest unknown/i);
      await expect(skopeo.inspectRaw(`docker://${host}/${repository}@${doomed.manifestDigest}`)).rejects.toThrow(/manifest unknown/i);
    });

    it("removes every tag that pointed at the deleted manifest", async () => {
      await expect(skopeo.inspectRaw(`docker://${host}/${repository}:old-alias`)).rejects.toThrow(/manifest unknown/i);
      expect((await skopeo.listTags(`docker://${host}/${repository}`)).Tags).toEqual(["current"]);
    });

    it("leaves other manifests in the repository pullable", async () => {
      const raw = await skopeo.inspectRaw(`docker://${host}/${repository}:current`);
      expect(raw.equals(kept.manifest)).toBe(true);
    });
  });
});

