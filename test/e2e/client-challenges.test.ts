/**
 * What real clients do with the registry's challenges (authentication on): skopeo copying
 * between two repositories mounts the layers instead of uploading them again, podman
 * pushes with a token that may push one repository, and a client whose token may only
 * pull is challenged with insufficient_scope and then told which scope it lacks.
 *
 * A recording proxy sits between the clients and the registry, so each test can assert on
 * the requests the client really sent and the answers it got, not only on its exit code.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ManagementClient } from "../support/management-client.js";
import { tarWithOneFile, writeDockerDirImage, type DockerDirImage } from "../support/oci-layout.js";
import { Podman } from "../support/podman.js";
import { RecordingProxy, type RecordedExchange } from "../support/recording-proxy.js";
import { Skopeo, type Credentials } from "../support/skopeo.js";
import { startTestStack, type TestStack } from "../support/stack.js";

/** Blob uploads into `repository` that carried bytes: a PATCH or a PUT of an upload session. */
function byteUploads(exchanges: RecordedExchange[], repository: string): RecordedExchange[] {
  return exchanges.filter((e) => (e.method === "PATCH" || e.method === "PUT") && e.path.startsWith(`/v2/${repository}/blobs/uploads/`));
}

describe("real clients and the registry's challenges (authentication on)", () => {
  let stack: TestStack;
  let proxy: RecordingProxy;
  let host: string;
  let management: ManagementClient;
  let skopeo: Skopeo;
  let workDir: string;
  let image: DockerDirImage;
  let adminPassword: string;

  async function credentials(name: string, actions: string[]): Promise<Credentials> {
    const scopeMap = await management.call("POST", "scopeMaps", { name: `${name}-map`, actions });
    if (scopeMap.status !== 201) throw new Error(`scope map create answered ${scopeMap.status}: ${JSON.stringify(scopeMap.body)}`);
    return { username: name, password: await management.tokenWithPassword(name, { scopeMap: `${name}-map` }) };
  }

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    proxy = await RecordingProxy.start(stack.registryUrl);
    host = proxy.host;
    management = new ManagementClient(stack.registryUrl);
    skopeo = await Skopeo.create();
    workDir = await mkdtemp(join(tmpdir(), "client-challenges-"));
    image = await writeDockerDirImage(join(workDir, "image"), { seed: "client-challenges" });
    adminPassword = await management.tokenWithPassword("seed-admin", { scopeMap: "_repositories_admin" });
    const admin = { username: "seed-admin", password: adminPassword };
    await skopeo.copy(`dir:${image.dir}`, `docker://${host}/source/app:v1`, admin);
  });

  afterAll(async () => {
    await proxy?.stop();
    await stack?.destroy();
    await skopeo?.dispose();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("skopeo copies between two repositories by mounting the blobs, with a token scoped to both", async () => {
    const copier = await credentials("copier", ["repositories/source/app/content/read", "repositories/target/app/content/read", "repositories/target/app/content/write"]);
    const recorded = proxy.mark();
    await skopeo.run("copy", [
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      "--src-creds",
      `${copier.username}:${copier.password}`,
      "--dest-creds",
      `${copier.username}:${copier.password}`,
      `docker://${host}/source/app:v1`,
      `docker://${host}/target/app:v1`,
    ]);
    const exchanges = recorded();

    // skopeo knows the layers are in source/app from its blob-info cache (the seeding copy
    // pushed them there through the same host), and asks for the source's pull with the
    // target's pull,push in one token request before it tries the mount.
    const tokenScopes = exchanges.filter((e) => e.path.startsWith("/oauth2/token?")).map((e) => new URLSearchParams(e.path.split("?")[1]).getAll("scope").sort());
    expect(tokenScopes).toContainEqual(["repository:source/app:pull", "repository:target/app:pull,push"]);

    // Each layer was mounted from source/app: one POST ?mount=&from= answered 201, no bytes.
    for (const layer of image.layerDigests) {
      const mount = exchanges.find((e) => e.method === "POST" && e.path.startsWith("/v2/target/app/blobs/uploads/?") && new URLSearchParams(e.path.split("?")[1]).get("mount") === layer);
      expect(mount, `no mount of ${layer}`).toMatchObject({ status: 201 });
      expect(new URLSearchParams(mount!.path.split("?")[1]).get("from")).toBe("source/app");
    }
    // The only bytes sent were the config's: skopeo copies the config without trying to reuse it.
    const finished = byteUploads(exchanges, "target/app").filter((e) => e.method === "PUT").map((e) => new URLSearchParams(e.path.split("?")[1]).get("digest"));
    expect(finished).toEqual([image.configDigest]);
    for (const layer of image.layerDigests) expect(exchanges.some((e) => e.path.includes(encodeURIComponent(layer)) && e.method === "PUT")).toBe(false);

    // And the copy is whole: the target serves the same manifest.
    expect(Buffer.from(await skopeo.inspectRaw(`docker://${host}/target/app:v1`, copier)).equals(image.manifest)).toBe(true);
  });

  describe("podman", () => {
    let podman: Podman;
    beforeEach(async () => {
      podman = await Podman.create();
    });
    afterEach(async () => {
      await podman?.dispose();
    });

    async function localImage(reference: string): Promise<void> {
      const tarFile = join(podman.dir, "layer.tar");
      await writeFile(tarFile, tarWithOneFile("pushed.txt", randomBytes(64)));
      await podman.importTar(tarFile, reference);
    }

    it("pushes after login with a token that may push one repository, and is refused with insufficient_scope for another", async () => {
      const pusher = await credentials("one-repo-pusher", ["repositories/team/app/content/read", "repositories/team/app/content/write"]);
      expect((await podman.login(host, pusher.username, pusher.password)).code).toBe(0);
      await localImage(`${host}/team/app:v1`);
      const pushed = await podman.push(`${host}/team/app:v1`);
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(await skopeo.listTags(`docker://${host}/team/app`, pusher)).toEqual(["v1"]);

      await podman.tag(`${host}/team/app:v1`, `${host}/elsewhere/app:v1`);
      const recorded = proxy.mark();
      const refused = await podman.push(`${host}/elsewhere/app:v1`);
      const exchanges = recorded();
      expect(refused.code, "podman push to a repository outside the token's scope map succeeded").not.toBe(0);
      // podman's first request there is a HEAD of the layer: it is challenged for the scope,
      // asks the token server again, gets no more, and gives up. (A HEAD answer has no body,
      // so podman prints its own words for the 401.)
      const challenges = exchanges.filter((e) => e.status === 401 && e.path.startsWith("/v2/elsewhere/app/")).map((e) => e.challenge);
      expect(challenges.length).toBeGreaterThanOrEqual(2);
      for (const challenge of challenges) expect(challenge).toMatch(/,scope="repository:elsewhere\/app:pull",error="insufficient_scope"$/);
      expect(refused.stderr).toMatch(/denied: requested access to the resource is denied/);
      expect(exchanges.some((e) => e.path.startsWith("/v2/elsewhere/app/") && e.status < 400)).toBe(false);
    });

    it("with a pull-only token, follows the insufficient_scope challenge, then shows the message naming the push scope", async () => {
      const puller = await credentials("source-puller", ["repositories/source/app/content/read"]);
      expect((await podman.login(host, puller.username, puller.password)).code).toBe(0);
      await localImage(`${host}/source/app:mine`);
      const recorded = proxy.mark();
      const refused = await podman.push(`${host}/source/app:mine`);
      const exchanges = recorded();
      expect(refused.code, "podman push with a pull-only token succeeded").not.toBe(0);

      const uploads = exchanges.filter((e) => e.method === "POST" && e.path === "/v2/source/app/blobs/uploads/");
      expect(uploads.map((e) => e.status)).toEqual([401, 401]);
      for (const upload of uploads) expect(upload.challenge).toMatch(/,scope="repository:source\/app:pull,push",error="insufficient_scope"$/);
      // Between the two attempts podman went back to the token server, as the challenge asks.
      const [first, second] = uploads.map((e) => exchanges.indexOf(e));
      expect(exchanges.slice(first! + 1, second).some((e) => e.path.startsWith("/oauth2/token?"))).toBe(true);
      expect(refused.stderr).toContain(
        'unauthorized: the access token does not grant repository:source/app:push, and token "source-puller" may not have it: its scope map does not allow it',
      );
      // Nothing was tagged.
      const admin = { username: "seed-admin", password: adminPassword };
      expect(await skopeo.listTags(`docker://${host}/source/app`, admin)).toEqual(["v1"]);
    });
  });
});
