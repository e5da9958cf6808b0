/**
 * The deployed storage configuration, run locally (LOCAL_STORAGE_AUTH=identity): Azurite in
 * OAuth mode over HTTPS, the app holding no account key and signing in with a token
 * credential, blob GETs answered 307 to a user-delegation SAS. Real skopeo and podman pull
 * through a recording proxy, so the redirects are counted, not assumed; the bytes they get
 * are compared with what was pushed.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeDockerDirImage, type DockerDirImage } from "../support/oci-layout.js";
import { Podman } from "../support/podman.js";
import { RecordingProxy, type RecordedExchange } from "../support/recording-proxy.js";
import { Skopeo } from "../support/skopeo.js";
import { startTestStack, type TestStack } from "../support/stack.js";

/** The shortest read URL the settings allow, so the expiry test waits half a minute, not ten. */
const READ_URL_SECONDS = 30;
const ANYONE = { username: "anyone", password: "anonymous-stack" };

const blobGets = (exchanges: RecordedExchange[]): RecordedExchange[] => exchanges.filter((exchange) => exchange.method === "GET" && /\/blobs\/sha256:[0-9a-f]{64}$/.test(exchange.path));

describe("storage signed in with an identity (no account key), blobs served by user-delegation SAS", () => {
  let stack: TestStack;
  let workDir: string;
  let image: DockerDirImage;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "storage-identity-"));
    stack = await startTestStack({ storageAuth: "identity", settings: { REGISTRY_READ_URL_SECONDS: String(READ_URL_SECONDS) } });
    image = await writeDockerDirImage(join(workDir, "image"), { seed: "storage-identity/app" });
    const skopeo = await Skopeo.create();
    try {
      await skopeo.copy(`dir:${image.dir}`, `docker://${stack.registryHost}/identity/app:v1`, ANYONE);
    } finally {
      await skopeo.dispose();
    }
  });
  afterAll(async () => {
    await stack?.destroy();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("hands the app no account key and no connection string: the two endpoints and the emulator credential", async () => {
    const settings = JSON.stringify(stack.appSettings);
    expect(settings).not.toMatch(/AccountKey=/i);
    expect(settings).not.toContain("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==");
    expect(stack.appSettings).not.toHaveProperty("STORAGE_CONNECTION_STRING");
    expect(stack.config.STORAGE_CONNECTION_STRING).toBeUndefined();
    expect(stack.config.STORAGE_CREDENTIAL).toBe("emulator");
    expect(stack.config.STORAGE_BLOB_ENDPOINT).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/$/);
    expect(stack.config.STORAGE_QUEUE_ENDPOINT).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/$/);
    // Cosmos DB keeps its key locally: the local server has no Entra sign-in (docs/operations.md).
    expect(stack.config.COSMOS_KEY).toBeDefined();
    // ...and with only that, the app reaches blobs and the import queue.
    const health = await fetch(`${stack.registryUrl}/health`);
    const body = (await health.json()) as { checks: Record<string, { status: string }> };
    expect(health.status, JSON.stringify(body)).toBe(200);
    expect(body.checks.blobStorage?.status).toBe("Healthy");
    expect(body.checks.importQueue?.status).toBe("Healthy");
  });

  it.concurrent("redirects every blob GET of a skopeo pull to storage, which serves the pushed bytes", async () => {
    const proxy = await RecordingProxy.start(stack.registryUrl);
    const skopeo = await Skopeo.create();
    const target = join(workDir, "skopeo-pulled");
    try {
      const recorded = proxy.mark();
      await skopeo.copyFrom(`docker://${proxy.host}/identity/app:v1`, `dir:${target}`, ANYONE);
      const gets = blobGets(recorded());
      expect(gets.length).toBe(image.blobs.size);
      expect(gets.map((exchange) => exchange.status)).toEqual(gets.map(() => 307));
    } finally {
      await Promise.all([proxy.stop(), skopeo.dispose()]);
    }
    for (const [digest, bytes] of image.blobs) expect((await readFile(join(target, digest.replace("sha256:", "")))).equals(bytes), digest).toBe(true);
    expect((await readFile(join(target, "manifest.json"))).equals(image.manifest)).toBe(true);
  });

  it.concurrent("redirects every blob GET of a podman pull, and podman stores the image it was pushed as", async () => {
    const proxy = await RecordingProxy.start(stack.registryUrl);
    const podman = await Podman.create();
    try {
      const recorded = proxy.mark();
      const pull = await podman.pull(`${proxy.host}/identity/app:v1`);
      expect(pull.code, pull.stderr).toBe(0);
      const gets = blobGets(recorded());
      expect(gets.length).toBe(image.blobs.size);
      expect(gets.map((exchange) => exchange.status)).toEqual(gets.map(() => 307));
      // podman checks every blob against its digest, so the same digests mean the same bytes.
      const pulled = await podman.inspectImage(`${proxy.host}/identity/app:v1`);
      expect(pulled?.Digest).toBe(image.manifestDigest);
    } finally {
      await Promise.all([proxy.stop(), podman.dispose()]);
    }
  });

  it.concurrent("signs the read URLs of concurrent GETs with one delegation key, valid far longer than any URL", async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`${stack.registryUrl}/v2/identity/app/blobs/${image.configDigest}`, { redirect: "manual" })),
    );
    const urls = answers.map((answer) => new URL(answer.headers.get("location") ?? "http://missing/"));
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 307));
    // skt/ske are the key's own validity: one key means one pair.
    expect(new Set(urls.map((url) => `${url.searchParams.get("skt")} ${url.searchParams.get("ske")}`)).size).toBe(1);
    const keyExpires = Date.parse(urls[0]!.searchParams.get("ske")!);
    expect(keyExpires - Date.now()).toBeGreaterThan(12 * 3600_000);
  });

  it.concurrent("a read URL is refused by storage once it expires, and the registry hands out a fresh one", async () => {
    const [layerDigest] = image.layerDigests;
    const blobUrl = `${stack.registryUrl}/v2/identity/app/blobs/${layerDigest}`;
    const first = await fetch(blobUrl, { redirect: "manual" });
    expect(first.status).toBe(307);
    const firstUrl = new URL(first.headers.get("location")!);
    // Signed with a delegation key (skoid/sktid/ske...), read-only, for READ_URL_SECONDS.
    expect(firstUrl.protocol).toBe("https:");
    expect(firstUrl.searchParams.get("skoid")).toBeTruthy();
    expect(firstUrl.searchParams.get("sp")).toBe("r");
    const expiresAt = Date.parse(firstUrl.searchParams.get("se")!);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(READ_URL_SECONDS * 1000);
    expect((await fetch(firstUrl)).status).toBe(200);

    await new Promise((resolve) => setTimeout(resolve, expiresAt - Date.now() + 1500));
    const expired = await fetch(firstUrl);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toMatch(/AuthenticationFailed|AuthorizationFailure/);

    const again = await fetch(blobUrl, { redirect: "manual" });
    expect(again.status).toBe(307);
    const freshUrl = new URL(again.headers.get("location")!);
    expect(Date.parse(freshUrl.searchParams.get("se")!)).toBeGreaterThan(Date.now());
    const fresh = await fetch(freshUrl);
    expect(fresh.status).toBe(200);
    expect(Buffer.from(await fresh.arrayBuffer()).equals(image.blobs.get(layerDigest!)!)).toBe(true);
  });
});
