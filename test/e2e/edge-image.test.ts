/**
 * The edge agent's container image (issue 12, item 3), end to end: built by the
 * repository's own script without a container engine (twice, to show the digest is
 * reproducible), pushed with that script to the cloud registry (the local stack), pulled
 * from there and run by podman as an edge machine would, and pulled through with podman
 * and with a real Docker engine, each logged in with a client token.
 *
 * The figures the issue asks for (image size, `podman run` to serving) are printed.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually } from "../support/edge.js";
import { DockerEngine } from "../support/docker.js";
import { ManagementClient } from "../support/management-client.js";
import { writeMultiArchOciLayout, type MultiArchLayout } from "../support/oci-layout.js";
import { Podman } from "../support/podman.js";
import { Skopeo, type Credentials } from "../support/skopeo.js";
import { startTestStack, type TestStack } from "../support/stack.js";
import type { BuiltImage } from "../../dist/scripts/edge-image/build-image.js";

const execFileAsync = promisify(execFile);
const REPO_ROOT = join(import.meta.dirname, "../..");
const BUILD = join(REPO_ROOT, "dist/scripts/edge-image/build.js");
const PUSH = join(REPO_ROOT, "dist/scripts/edge-image/push.js");
const IMAGE_REPOSITORY = "connected-registry/edge-agent";
/** The image's user (scripts/edge-image/root-filesystem.ts). */
const IMAGE_UID = 65532;
const SOURCE = "https://example.test/connected-registry";

const SLOW_TEST_MS = 300_000;
/** A cold start of the agent in a container: Node's start-up, activation with the parent, listening. */
const SERVING_LIMIT_MS = 20_000;

/**
 * What `podman run` needs on this CI's machines and not on a user's: crun 1.8, podman's
 * default runtime, refuses the hybrid cgroup layout of the containers CI runs in, and runc
 * (installed with docker.io by .ci/run) runs there; podman 4.3 raises the container's
 * open-files and process limits beyond the hard limits such a container has (`--ulimit
 * host` does not stop it), so limits that fit are given.
 */
const RUN_FLAGS = ["--runtime", "runc", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"];


/** The OCI image config fields skopeo prints with `inspect --config`. */
interface ImageConfig {
  created: string;
  config: {
    User: string;
    Entrypoint: string[];
    Cmd: string[];
    Env: string[];
    ExposedPorts: Record<string, object>;
    Volumes: Record<string, object>;
    WorkingDir: string;
    Labels: Record<string, string>;
  };
}

async function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await execFileAsync(command, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 });
  return stdout;
}

/** `npm run build:image`'s last step, as a user's shell runs it (here under a umask that would leak into careless tar headers). */
async function buildImage(output: string, umask: string): Promise<BuiltImage> {
  const stdout = await run("sh", ["-c", `umask ${umask} && exec "$0" "$@"`, process.execPath, BUILD, "--output", output], { IMAGE_SOURCE: SOURCE });
  return JSON.parse(stdout) as BuiltImage;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Any HTTP answer from the agent's /v2/ (401 without credentials): it serves. */
async function serves(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.status === 401;
  } catch {
    return false;
  }
}

const readActions = (repository: string): string[] => [`repositories/${repository}/content/read`, `repositories/${repository}/metadata/read`];

describe("the edge agent's container image", () => {
  let stack: TestStack;
  let management: ManagementClient;
  let admin: Credentials;
  let skopeo: Skopeo;
  let podman: Podman;
  let work: string;
  let first: BuiltImage;
  let second: BuiltImage;
  let workload: MultiArchLayout;
  const containers: string[] = [];

  beforeAll(async () => {
    // Lower case only: podman names an image pulled from a layout after the folder's path.
    work = join(tmpdir(), `edge-image-e2e-${randomBytes(6).toString("hex")}`);
    await mkdir(work, { mode: 0o755 });
    // The single-file agent the image carries (npm test builds dist/, not the bundle).
    await run("npm", ["run", "--silent", "build:edge"]);
    first = await buildImage(join(work, "layout-a"), "022");
    second = await buildImage(join(work, "layout-b"), "077");
    stack = await startTestStack({ anonymous: false });
    management = new ManagementClient(stack.registryUrl);
    admin = { username: "imageadmin", password: await management.tokenWithPassword("imageadmin", { scopeMap: "_repositories_admin" }) };
    skopeo = await Skopeo.create();
    podman = await Podman.create();
    // What the edge will serve: a two-platform image, as most images on a factory floor are.
    workload = await writeMultiArchOciLayout(join(work, "workload"), { tag: "v1", seed: "edge-image-e2e/workload" });
    await skopeo.copy(`oci:${workload.dir}:v1`, `docker://${stack.registryHost}/line1/controller:v1`, admin, ["--all"]);
  }, SLOW_TEST_MS);

  afterAll(async () => {
    for (const name of containers) await podman?.run(["rm", "--force", "--time", "0", name]).catch(() => undefined);
    await podman?.dispose();
    await skopeo?.dispose();
    await stack?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("builds the same image, to the digest, twice from one commit, and says how it runs and where it comes from", async () => {
    console.log(
      `edge agent image ${first.digest}: ${(first.compressedSize / 1e6).toFixed(1)} MB compressed (what a pull downloads), ` +
        `${(first.uncompressedSize / 1e6).toFixed(1)} MB unpacked; Node ${first.nodeVersion}`,
    );
    expect(second.digest).toBe(first.digest);
    const blobs = async (layout: string): Promise<string[]> => (await readdir(join(layout, "blobs", "sha256"))).sort();
    expect(await blobs(second.layout)).toEqual(await blobs(first.layout));
    expect(first.tag).toBe(JSON.parse(await readFile(join(REPO_ROOT, "edge-agent/package.json"), "utf8")).version);

    const image = JSON.parse(await skopeo.run("inspect", [`oci:${first.layout}:${first.tag}`])) as { Digest: string; Architecture: string; Os: string; Layers: string[] };
    expect(image).toMatchObject({ Digest: first.digest, Architecture: "amd64", Os: "linux" });
    // The runtime and the agent in layers of their own: an upgrade downloads the agent's only.
    expect(image.Layers).toHaveLength(2);
    // The agent's layer: the bundle and, beside it, the proxy client it imports when a proxy is set.
    const agentLayer = join(first.layout, "blobs", "sha256", image.Layers[1]!.replace("sha256:", ""));
    const agentEntries = (await run("tar", ["-tzf", agentLayer])).split("\n").filter((line) => line !== "");
    expect(agentEntries.sort()).toEqual(["opt", "opt/connected-registry", "opt/connected-registry/connected-registry.mjs", "opt/connected-registry/undici.mjs"]);

    const { created, config } = JSON.parse(await skopeo.run("inspect", ["--config", `oci:${first.layout}:${first.tag}`])) as ImageConfig;
    expect(config.User).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
    expect(config.Entrypoint).toEqual(["/usr/local/bin/node", "/opt/connected-registry/connected-registry.mjs"]);
    expect(config.Cmd).toEqual(["start", "--http"]);
    expect(config.ExposedPorts).toEqual({ "8080/tcp": {} });
    expect(config.Volumes).toEqual({ "/data": {} });
    expect(config.Env).toEqual(expect.arrayContaining(["CONNECTED_REGISTRY_DATA=/data", "CONNECTED_REGISTRY_PORT=8080", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"]));

    const commit = (await run("git", ["rev-parse", "HEAD"])).trim();
    const commitTime = new Date(Number((await run("git", ["log", "-1", "--format=%ct"])).trim()) * 1000).toISOString().replace(".000Z", "Z");
    expect(created).toBe(commitTime);
    expect(config.Labels).toMatchObject({
      "org.opencontainers.image.source": SOURCE,
      "org.opencontainers.image.version": first.tag,
      "org.opencontainers.image.created": commitTime,
    });
    expect(config.Labels["org.opencontainers.image.revision"]).toMatch(new RegExp(`^${commit}(-dirty)?$`));
  });

  it(
    "is pushed to the cloud registry, runs with podman against it, and serves pulls through podman and docker with a client token",
    async () => {
      // push:image, with the settings registry-admin reads (the cloud registry by default) and a token that may push.
      const pusher = { username: "releasepusher", password: await management.tokenWithPassword("releasepusher", { scopeMap: "_repositories_push" }) };
      await run(process.execPath, [PUSH, "--layout", first.layout], { REGISTRY_ENDPOINT: stack.registryUrl, REGISTRY_USERNAME: pusher.username, REGISTRY_PASSWORD: pusher.password });
      const reference = `${stack.registryHost}/${IMAGE_REPOSITORY}:${first.tag}`;
      const pushed = JSON.parse(await skopeo.run("inspect", ["--tls-verify=false", "--creds", `${admin.username}:${admin.password}`, `docker://${reference}`])) as { Digest: string };
      expect(pushed.Digest, "the cloud serves the image under the digest that was built").toBe(first.digest);

      // The edge machine: pulls its runtime from the cloud with a pull token, as it pulls anything.
      await management.call("POST", "scopeMaps", { name: "edgeimagepull", actions: readActions(IMAGE_REPOSITORY) });
      const installer = { username: "edgeinstaller", password: await management.tokenWithPassword("edgeinstaller", { scopeMap: "edgeimagepull" }) };
      expect((await podman.login(stack.registryHost, installer.username, installer.password)).code).toBe(0);
      const pullStarted = Date.now();
      const pull = await podman.pull(reference);
      expect(pull.code, pull.stderr).toBe(0);
      console.log(`podman pull of the image from the cloud registry (local stack): ${Date.now() - pullStarted} ms`);

      await management.call("POST", "scopeMaps", { name: "line1read", actions: readActions("line1/controller") });
      const operator = { username: "line1operator", password: await management.tokenWithPassword("line1operator", { scopeMap: "line1read" }) };
      const connectionString = await createConnectedRegistry(
        management,
        { name: "imageedge", mode: "ReadOnly", repositories: ["line1/controller"], clientTokens: [operator.username] },
        stack.registryHost,
      );

      // Host network (the issue allows it): the agent reaches the cloud on loopback and
      // listens on a free port of the host instead of 8080.
      const port = await freePort();
      const edgeUrl = `http://127.0.0.1:${port}`;
      const edgeHost = `127.0.0.1:${port}`;
      containers.push("imageedge");
      const started = Date.now();
      const runResult = await podman.run([
        // A read-only root filesystem, as Kubernetes' restricted profile runs it: the agent writes only to /data.
        "run", "--detach", "--name", "imageedge", "--network", "host", "--read-only", "--read-only-tmpfs=false", ...RUN_FLAGS,
        "--env", `CONNECTED_REGISTRY_CONNECTION_STRING=${connectionString}`,
        "--env", `CONNECTED_REGISTRY_PORT=${port}`,
        reference,
      ]);
      expect(runResult.code, runResult.stderr).toBe(0);
      await eventually(() => serves(edgeUrl), SERVING_LIMIT_MS, `the agent in the container serving /v2/ within ${SERVING_LIMIT_MS} ms of podman run`).catch(async (error: unknown) => {
        throw new Error(`${String(error)}\n${(await podman.run(["logs", "imageedge"])).stderr.slice(-3000)}`);
      });
      const servingMs = Date.now() - started;
      const status = await eventually(
        async () => {
          const body = (await (await fetch(`${edgeUrl}/status`)).json()) as Record<string, any>;
          return body.fullSyncDone && body.activation?.status === "Active" ? body : undefined;
        },
        60_000,
        "the agent in the container activated and fully synced",
      );
      const syncedMs = Date.now() - started;
      console.log(`podman run -> serving /v2/: ${servingMs} ms; -> activated and fully synced: ${syncedMs} ms`);
      expect(status).toMatchObject({ name: "imageedge", mode: "ReadOnly" });

      // Not root: the agent's process on the host belongs to the image's user.
      const pid = (await podman.run(["inspect", "--format", "{{.State.Pid}}", "imageedge"])).stdout.trim();
      const processStatus = await readFile(`/proc/${pid}/status`, "utf8");
      expect(processStatus).toMatch(new RegExp(`^Uid:\\s+${IMAGE_UID}\\s+${IMAGE_UID}\\s+${IMAGE_UID}\\s+${IMAGE_UID}$`, "m"));
      console.log(`the agent's resident memory in the container, just after its full sync: ${/^VmRSS:\s+(.*)$/m.exec(processStatus)?.[1] ?? "?"}`);

      // Its state lives in the /data volume: the image's own `status` command reads it from another container.
      const statusRun = await podman.run(["run", "--rm", "--volumes-from", "imageedge", ...RUN_FLAGS, reference, "status", "--output", "json"]);
      expect(statusRun.code, statusRun.stderr).toBe(0);
      expect(JSON.parse(statusRun.stdout)).toMatchObject({ name: "imageedge", activation: { status: "Active" } });

      // Pulls through the edge, with the client token: podman...
      const platform = workload.platforms.find((p) => p.platform.architecture === "amd64")!;
      expect((await podman.login(edgeHost, operator.username, operator.password)).code).toBe(0);
      const podmanPull = await podman.pull(`${edgeHost}/line1/controller:v1`);
      expect(podmanPull.code, podmanPull.stderr).toBe(0);
      const pulled = await podman.inspectImage(`${edgeHost}/line1/controller:v1`);
      expect(pulled?.Digest).toBe(workload.indexDigest);
      expect(`sha256:${pulled!.Id}`).toBe(platform.configDigest);

      // ...and a real Docker engine.
      const docker = await DockerEngine.start();
      try {
        const refused = await docker.run(["pull", `${edgeHost}/line1/controller:v1`]);
        expect(refused.code, "docker pull without logging in succeeded").not.toBe(0);
        const login = await docker.login(edgeHost, operator.username, operator.password);
        expect(login.code, login.stderr).toBe(0);
        const dockerPull = await docker.run(["pull", `${edgeHost}/line1/controller:v1`]);
        expect(dockerPull.code, dockerPull.stderr).toBe(0);
        expect(dockerPull.stdout).toContain(`Digest: ${workload.indexDigest}`);
        const inspected = await docker.run(["image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}", `${edgeHost}/line1/controller:v1`]);
        expect(inspected.stdout).toContain(platform.configDigest);
        expect(inspected.stdout).toContain(`${edgeHost}/line1/controller@${workload.indexDigest}`);
      } finally {
        await docker.stop();
      }

      // SIGTERM reaches the agent (PID 1 in the container) and it stops cleanly.
      const stop = await podman.run(["stop", "--time", "10", "imageedge"]);
      expect(stop.code, stop.stderr).toBe(0);
      expect((await podman.run(["inspect", "--format", "{{.State.ExitCode}}", "imageedge"])).stdout.trim()).toBe("0");
    },
    SLOW_TEST_MS,
  );

  it(
    "reads the connection string from a mounted file, so the password is not in the container's settings",
    async () => {
      // Straight from the built layout this time.
      const reference = `oci:${first.layout}:${first.tag}`;
      const connectionString = await createConnectedRegistry(management, { name: "imagefileedge", mode: "ReadOnly", repositories: ["line1/controller"] }, stack.registryHost);
      const password = /SyncTokenPassword=([^;]+)/.exec(connectionString)![1]!;
      // As a Kubernetes Secret or a systemd credential arrives: a file only the agent's user can read.
      const secret = join(work, "connection-string");
      await writeFile(secret, `${connectionString}\n`, { mode: 0o400 });
      await chown(secret, IMAGE_UID, IMAGE_UID);

      const port = await freePort();
      containers.push("imagefileedge");
      const runResult = await podman.run([
        "run", "--detach", "--name", "imagefileedge", "--network", "host", ...RUN_FLAGS,
        "--volume", `${secret}:/run/secrets/connection-string:ro`,
        "--env", "CONNECTED_REGISTRY_CONNECTION_STRING_FILE=/run/secrets/connection-string",
        "--env", `CONNECTED_REGISTRY_PORT=${port}`,
        reference,
      ]);
      expect(runResult.code, runResult.stderr).toBe(0);
      const status = await eventually(
        async () => {
          const body = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Record<string, any>;
          return body.activation?.status === "Active" ? body : undefined;
        },
        60_000,
        "the agent activated with the connection string from the file",
      ).catch(async (error: unknown) => {
        throw new Error(`${String(error)}\n${(await podman.run(["logs", "imagefileedge"])).stderr.slice(-3000)}`);
      });
      expect(status.name).toBe("imagefileedge");
      const inspected = await podman.run(["inspect", "imagefileedge"]);
      expect(inspected.code).toBe(0);
      expect(inspected.stdout).not.toContain(password);
      expect((await podman.run(["rm", "--force", "--time", "10", "imagefileedge"])).code).toBe(0);
    },
    SLOW_TEST_MS,
  );
});
