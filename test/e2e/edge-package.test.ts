/**
 * The edge agent as a user installs it (issue 12, item 2): `npm pack` of edge-agent/ gives a
 * tarball that `npm install -g` puts on a machine with only Node (no checkout, no registry:
 * `--offline`, an empty cache and a clean HOME), and the installed `connected-registry` runs
 * the quickstart against the local stack: activate, sync, `podman login` + `podman pull`
 * through it with a client token, `connected-registry status`; a second edge syncs through an
 * outbound proxy (the proxy client is the package's second file). Then it uninstalls cleanly.
 *
 * The tarball is packed from the bundle `npm run build` made (edge-agent/dist/
 * connected-registry.mjs); `--ignore-scripts` skips the package's prepack (which builds it
 * again), so a test run never rewrites dist/ under the other test files.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually, startEdge, type EdgeProcess } from "../support/edge.js";
import { startForwardProxy } from "../support/forward-proxy.js";
import { ManagementClient } from "../support/management-client.js";
import { writeMultiArchOciLayout } from "../support/oci-layout.js";
import { Podman } from "../support/podman.js";
import { basicAuthorization } from "../support/registry-client.js";
import { Skopeo } from "../support/skopeo.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const execFileAsync = promisify(execFile);
const PACKAGE_DIR = join(import.meta.dirname, "../../edge-agent");

/** PATH and HOME of a machine that has Node and nothing of ours: no checkout's node_modules/.bin, no npm settings. */
function cleanEnvironment(home: string): NodeJS.ProcessEnv {
  // Not process.env: `npm test` sets npm_config_* variables (prefix, cache, ...) that would steer the install.
  return { PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, HOME: home, npm_config_cache: join(home, ".npm"), npm_config_update_notifier: "false" };
}

describe("the npm package of the edge agent (installed from its tarball, run against the local stack)", () => {
  let work: string;
  let home: string;
  let prefix: string;
  let tarball: string;
  let stack: TestStack;
  let skopeo: Skopeo;
  let podman: Podman;
  let edge: EdgeProcess | undefined;
  const version = async (): Promise<string> => (JSON.parse(await readFile(join(PACKAGE_DIR, "package.json"), "utf8")) as { version: string }).version;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "edge-package-"));
    home = join(work, "home");
    prefix = join(work, "prefix");
    const { stdout } = await execFileAsync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: PACKAGE_DIR, env: cleanEnvironment(home) });
    tarball = join(work, (JSON.parse(stdout) as Array<{ filename: string }>)[0]!.filename);
    [stack, skopeo, podman] = await Promise.all([startTestStack({ anonymous: false }), Skopeo.create(), Podman.create()]);
  });

  afterAll(async () => {
    await edge?.stop();
    await podman?.dispose();
    await skopeo?.dispose();
    await stack?.destroy();
    await rm(work, { recursive: true, force: true });
  });

  it("packs only what runs: the bundle and its proxy client, under our scope, with nothing left to fetch", async () => {
    const { stdout } = await execFileAsync("tar", ["-tzf", tarball]);
    expect(stdout.trim().split("\n").sort()).toEqual(["package/README.md", "package/dist/connected-registry.mjs", "package/dist/undici.mjs", "package/package.json"]);
    const { stdout: manifest } = await execFileAsync("tar", ["-xzOf", tarball, "package/package.json"]);
    const packaged = JSON.parse(manifest) as Record<string, any>;
    expect(packaged).toMatchObject({ name: "@connected-registry/edge-agent", version: await version(), bin: { "connected-registry": "dist/connected-registry.mjs" } });
    expect(packaged.private).toBeUndefined();
    expect(packaged.dependencies ?? {}).toEqual({});
    const { stdout: head } = await execFileAsync("tar", ["-xzOf", tarball, "package/dist/connected-registry.mjs"], { maxBuffer: 64 * 1024 * 1024 });
    expect(head.startsWith("#!/usr/bin/env node\n")).toBe(true);
  });

  it("installs offline into a fresh prefix and runs the quickstart with the installed connected-registry", async () => {
    const env = cleanEnvironment(home);
    // --offline: the registry is never asked; a runtime dependency left to fetch would fail here.
    await execFileAsync("npm", ["install", "-g", "--offline", "--no-audit", "--no-fund", "--prefix", prefix, tarball], { env });
    const bin = join(prefix, "bin", "connected-registry");
    const installed = join(prefix, "lib", "node_modules", "@connected-registry", "edge-agent");
    expect(await readdir(installed)).not.toContain("node_modules");

    const { stdout: printed } = await execFileAsync(bin, ["--version"], { env });
    expect(printed.trim()).toBe(await version());

    // The quickstart, as docs/edge-install.md tells it: an image in the cloud, a client token, a connected registry.
    const management = new ManagementClient(stack.registryUrl);
    const admin = { username: "packageadmin", password: await management.tokenWithPassword("packageadmin", { scopeMap: "_repositories_admin" }) };
    const image = await writeMultiArchOciLayout(join(work, "hello-world"), { tag: "latest", seed: "edge-package/hello-world" });
    await skopeo.copy(`oci:${image.dir}:latest`, `docker://${stack.registryHost}/hello-world:latest`, admin, ["--all"]);
    const scopeMap = await management.call("POST", "scopeMaps", { name: "packagehelloread", actions: ["repositories/hello-world/content/read", "repositories/hello-world/metadata/read"] });
    expect(scopeMap.status).toBe(201);
    const reader = { username: "packagereader", password: await management.tokenWithPassword("packagereader", { scopeMap: "packagehelloread" }) };
    const connectionString = await createConnectedRegistry(management, { name: "packaged", mode: "ReadOnly", repositories: ["hello-world"], clientTokens: ["packagereader"] }, stack.registryHost);

    edge = await startEdge({ connectionString, command: [bin], env });
    const status = await eventually(async () => {
      const current = await edge!.status();
      return current.fullSyncDone && current.lastSyncTime ? current : undefined;
    }, 90_000, "the installed agent fully synced");
    expect(status).toMatchObject({ name: "packaged", activation: { status: "Active" }, mode: "ReadOnly" });
    // It tells its parent who it is: the handshake carries the package's version.
    const record = await management.call("GET", "connectedRegistries/packaged");
    expect(record.body).toMatchObject({ activation: { status: "Active" }, version: await version() });

    const login = await podman.login(edge.host, reader.username, reader.password);
    expect(login.code, login.stderr).toBe(0);
    const pull = await podman.pull(`${edge.host}/hello-world:latest`);
    expect(pull.code, pull.stderr).toBe(0);
    expect((await podman.inspectImage(`${edge.host}/hello-world:latest`))?.Digest).toBe(image.indexDigest);
    // Byte for byte over the HTTP API too.
    const manifest = await fetch(`${edge.url}/v2/hello-world/manifests/latest`, {
      headers: { Authorization: basicAuthorization(reader.username, reader.password), Accept: "application/vnd.oci.image.index.v1+json" },
    });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get("docker-content-digest")).toBe(image.indexDigest);
    // The bundle's metrics (its prom-client is trimmed to the parts the agent uses, scripts/bundle-edge.ts).
    const metrics = await fetch(`${edge.url}/metrics`);
    expect(metrics.status).toBe(200);
    const exposition = await metrics.text();
    expect(Number(/^connected_registry_sync_fetched_bytes_total (\d+)$/m.exec(exposition)?.[1])).toBeGreaterThan(0);
    expect(exposition).toMatch(/^connected_registry_last_sync_timestamp_seconds \d/m);

    const { stdout: statusText } = await execFileAsync(bin, ["status", "--data", edge.dataDir], { env });
    expect(statusText).toMatch(/activation:\s+Active/);
    expect(statusText).toMatch(/full sync:\s+done/);

    // Idle memory of the synced agent, for docs/edge-install.md's sizing (Linux /proc).
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${edge.child.pid}/status`, "utf8"))?.[1]);
    console.log(`installed agent idle RSS after a sync: ${(rssKiB / 1024).toFixed(0)} MiB`);
    expect(rssKiB).toBeLessThan(300 * 1024);

    await edge.stop();
    edge = undefined;

    // Behind an outbound proxy the installed agent imports undici from the file beside its bundle.
    const proxy = await startForwardProxy();
    try {
      const proxiedConnection = await createConnectedRegistry(management, { name: "packagedproxied", mode: "ReadOnly", repositories: ["hello-world"], clientTokens: ["packagereader"] }, stack.registryHost);
      edge = await startEdge({ connectionString: proxiedConnection, command: [bin], env: { ...env, HTTP_PROXY: proxy.url } });
      await eventually(async () => (await edge!.status()).fullSyncDone === true, 90_000, "the installed agent fully synced through the proxy");
      const requests = await proxy.requests();
      expect(requests.some((line) => line.startsWith(`GET http://${stack.registryHost}/sync/v1/connectedRegistries/packagedproxied/feed`)), await proxy.log()).toBe(true);
      expect(requests.some((line) => line.startsWith(`GET http://${stack.registryHost}/v2/hello-world/blobs/sha256:`))).toBe(true);
      await edge.stop();
      edge = undefined;
    } finally {
      await proxy.stop();
    }

    await execFileAsync("npm", ["uninstall", "-g", "--offline", "--prefix", prefix, "@connected-registry/edge-agent"], { env });
    await expect(readdir(join(prefix, "bin"))).resolves.not.toContain("connected-registry");
  });
});
