/**
 * Sync windows that hold and the bandwidth cap (issue 13, points 4 and 5), against the real
 * local cloud stack. The agent runs in this process (edge-agent/src/agent.ts, as the CLI
 * starts it) so the test can own its clock: windows last an hour at least, so the clock is
 * moved past the window's end while a sync runs. The cap is what makes that sync slow enough
 * to be caught in the middle; its accuracy is measured on the content fetcher itself.
 */
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEdgeAgent, type AgentHooks, type EdgeAgent } from "../../dist/edge-agent/src/agent.js";
import { createLogger } from "../../dist/edge-agent/src/log.js";
import { parseStartOptions } from "../../dist/edge-agent/src/options.js";
import { FsBlobStore } from "../../dist/edge-agent/src/store/fs-blob-store.js";
import { BandwidthLimit } from "../../dist/edge-agent/src/sync/bandwidth.js";
import { ContentFetcher } from "../../dist/edge-agent/src/sync/content-fetcher.js";
import { RegistryHttpClient } from "../../dist/shared/remote/http-client.js";
import { createConnectedRegistry, eventually } from "../support/edge.js";
import { ACCEPT, basic, clientToken, expectStatus, getManifest, pushRandomImage, readActions, registryFetch, tagsAt, writeActions } from "../support/edge-e2e.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, sha256 } from "../support/registry-client.js";
import type { Credentials } from "../support/skopeo.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const KIB = 1024;
const MIB = 1024 * KIB;

let stack: TestStack;
let management: ManagementClient;
let pusher: AuthorizedClient;
const folders: string[] = [];

beforeAll(async () => {
  stack = await startTestStack({ anonymous: false });
  management = new ManagementClient(stack.registryUrl);
  const admin = { username: "windowadmin", password: await management.tokenWithPassword("windowadmin", { scopeMap: "_repositories_admin" }) };
  pusher = new AuthorizedClient(stack.registryUrl, basic(admin));
}, 120_000);

afterAll(async () => {
  await stack?.destroy();
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

async function folder(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `edge-window-${prefix}-`));
  folders.push(dir);
  return dir;
}

/** The agent as `connected-registry start` runs it, in this process, with the test's clock; its log lines kept. */
async function agentInProcess(
  connectionString: string,
  args: string[],
  hooks: AgentHooks = {},
  dataDir?: string,
): Promise<{ agent: EdgeAgent; dataDir: string; logs: Array<Record<string, unknown>> }> {
  dataDir ??= await folder("data");
  const options = await parseStartOptions(["--connection-string", connectionString, "--http", "--host", "127.0.0.1", "--port", "0", "--data", dataDir, "--sync-interval", "0.5", ...args], {});
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger("info", (line) => logs.push(JSON.parse(line) as Record<string, unknown>));
  return { agent: await startEdgeAgent(options, log, hooks), dataDir, logs };
}

/** Every tag of the repositories, as `repository:tag`. */
async function visibleTags(baseUrl: string, creds: Credentials, repositories: string[]): Promise<string[]> {
  const all: string[] = [];
  for (const repository of repositories) for (const tag of await tagsAt(baseUrl, creds, repository)) all.push(`${repository}:${tag}`);
  return all.sort();
}

/** The tag's manifest and every blob it names, served whole and matching their digests. */
async function expectPullable(baseUrl: string, creds: Credentials, reference: string, expectedDigest: string): Promise<void> {
  const [repository, tag] = reference.split(":") as [string, string];
  const manifest = await getManifest(baseUrl, creds, repository, tag);
  expect(manifest.status, reference).toBe(200);
  expect(manifest.digest, reference).toBe(expectedDigest);
  const parsed = JSON.parse(manifest.bytes.toString("utf8")) as { config: { digest: string }; layers: Array<{ digest: string }> };
  for (const digest of [parsed.config.digest, ...parsed.layers.map((layer) => layer.digest)]) {
    const blob = await registryFetch(baseUrl, `/v2/${repository}/blobs/${digest}`, creds);
    expect(blob.status, `${reference} blob ${digest}`).toBe(200);
    expect(sha256(Buffer.from(await blob.arrayBuffer())), `${reference} blob ${digest}`).toBe(digest);
  }
}

describe("a sync window that closes mid-sync", () => {
  it(
    "stops at a consistent point, keeps what it downloaded, and completes at the next window without fetching it again",
    async () => {
      const layer = 256 * KIB;
      const images = new Map<string, { digest: string; blobBytes: number }>();
      for (const [repository, tags] of [["win/a", ["a1", "a2", "a3"]], ["win/b", ["b1", "b2", "b3", "b4"]]] as const) {
        for (const tag of tags) {
          const pushed = await pushRandomImage(pusher, repository, tag, [layer]);
          images.set(`${repository}:${tag}`, { digest: pushed.digest, blobBytes: [...pushed.bytes.values()].reduce((sum, bytes) => sum + bytes.length, 0) });
        }
      }
      const totalBlobBytes = [...images.values()].reduce((sum, image) => sum + image.blobBytes, 0);
      const firstRepositoryBytes = [...images].filter(([name]) => name.startsWith("win/a:")).reduce((sum, [, image]) => sum + image.blobBytes, 0);
      const reader = await clientToken(management, "windowreader", readActions("win/a", "win/b"));
      // Every two hours, for an hour; the clock starts just inside the 10:00 window.
      const connectionString = await createConnectedRegistry(
        management,
        { name: "windowed", mode: "ReadOnly", repositories: ["win/a", "win/b"], clientTokens: ["windowreader"], schedule: "0 */2 * * *", syncWindow: "PT1H" },
        stack.registryHost,
      );
      let offsetMs = Date.parse("2030-01-01T10:00:30Z") - Date.now();
      const now = (): Date => new Date(Date.now() + offsetMs);
      // 256 KiB/s: the ~1.8 MiB of this sync take about 7 s, long enough to close the window in the middle.
      const { agent, dataDir, logs } = await agentInProcess(connectionString, ["--max-bandwidth", "256KiB/s"], { now });
      try {
        const repositories = ["win/a", "win/b"];
        // Close the window once some images are in and the next ones are downloading.
        await eventually(
          async () => agent.state.state.progress.bytesFetched >= firstRepositoryBytes + 96 * KIB && (await visibleTags(agent.url, reader, repositories)).length > 0,
          60_000,
          "part of the sync",
        );
        // 11:59:55: past the window's end (11:00), 5 s before the next one opens.
        offsetMs = Date.parse("2030-01-01T11:59:55Z") - Date.now();
        const movedAt = Date.now();
        // Writes that had passed their check before the clock moved land within moments.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const atClose = await visibleTags(agent.url, reader, repositories);

        const status = await eventually(
          async () => {
            const view = (await (await fetch(`${agent.url}/status`)).json()) as Record<string, unknown>;
            return view.outsideSyncWindow ? view : undefined;
          },
          4_000,
          "the agent waiting for the next window",
        );
        expect(status.outsideSyncWindow).toBe("outside the sync window, next window at 2030-01-01T12:00:00.000Z");
        expect(status.fullSyncDone).toBe(false);
        expect(logs.some((line) => line.message === "the sync window closed: sync stopped, resuming at the next window")).toBe(true);
        // The cloud is told the sync stopped: it shows the edge idle, not Syncing.
        await eventually(async () => (await management.call("GET", "connectedRegistries/windowed")).body.connectionState === "Online", 3_000, "the cloud showing the edge Online");

        // Nothing appears while the window is closed, and what is there is whole.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, movedAt + 3_000 - Date.now())));
        const whileClosed = await visibleTags(agent.url, reader, repositories);
        expect(whileClosed).toEqual(atClose);
        expect(whileClosed.length).toBeGreaterThan(0);
        expect(whileClosed.length).toBeLessThan(images.size);
        for (const reference of whileClosed) await expectPullable(agent.url, reader, reference, images.get(reference)!.digest);
        // The downloads cut by the window left partial files, for a Range resume.
        const partials = await Promise.all((await readdir(join(dataDir, "partial")).catch(() => [])).map(async (name) => (await stat(join(dataDir, "partial", name))).size));
        expect(partials.filter((size) => size > 0).length).toBeGreaterThan(0);
        const fetchedAtClose = agent.state.state.progress.bytesFetched;
        expect(fetchedAtClose).toBeLessThan(totalBlobBytes);

        // The next window (12:00) opens by the clock; the sync resumes where it stopped and completes.
        await eventually(async () => agent.state.state.cursor !== undefined && (await visibleTags(agent.url, reader, repositories)).length === images.size, 60_000, "the sync completed at the next window");
        expect(agent.state.state.nextSyncWindow).toBeUndefined();
        for (const [reference, image] of images) await expectPullable(agent.url, reader, reference, image.digest);
        // Every blob byte came over the link once: what was downloaded before the close was kept.
        expect(agent.state.state.progress.bytesFetched).toBe(totalBlobBytes);
        // The full sync went on from the repository it stopped in.
        const resumed = logs.filter((line) => line.message === "full sync started").at(-1);
        expect(resumed?.resumedAfter).toBe(1);
      } finally {
        await agent.stop();
      }
    },
    120_000,
  );
});

describe("a sync window that closes during the upstream push (ReadWrite)", () => {
  it(
    "stops the push, so the parent has nothing half-pushed, and pushes it at the next window",
    async () => {
      const writer = await clientToken(management, "windowwriter", writeActions("up/windowed"));
      const connectionString = await createConnectedRegistry(
        management,
        { name: "windowedrw", mode: "ReadWrite", repositories: ["up/windowed"], clientTokens: ["windowwriter"], schedule: "0 */2 * * *", syncWindow: "PT1H" },
        stack.registryHost,
      );
      let offsetMs = Date.parse("2030-01-01T10:00:30Z") - Date.now();
      const now = (): Date => new Date(Date.now() + offsetMs);
      const { agent, logs } = await agentInProcess(connectionString, ["--max-bandwidth", "256KiB/s"], { now });
      try {
        await eventually(async () => agent.state.state.cursor !== undefined, 30_000, "the first (empty) sync");
        const local = new AuthorizedClient(agent.url, basic(writer));
        // 1 MiB up at 256 KiB/s: about 4 s of pushing, cut in the middle.
        const pushed = await pushRandomImage(local, "up/windowed", "t1", [1 * MIB]);
        await eventually(async () => agent.state.state.progress.phase === "upstream", 20_000, "the upstream push");
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const upstreamBefore = agent.state.state.upstreamAfter;
        offsetMs = Date.parse("2030-01-01T11:59:55Z") - Date.now();
        await eventually(async () => agent.state.state.nextSyncWindow, 4_000, "the agent waiting for the next window");
        if (process.env.EDGE_DEBUG) console.log(JSON.stringify(logs, null, 1));
        expect(logs.some((line) => line.message === "the sync window closed: sync stopped, resuming at the next window")).toBe(true);
        expect(logs.some((line) => line.message === "the parent refused a local change; it stays local")).toBe(false);
        // The parent has no part of the image, and the edge still owes it.
        expect(await tagsAt(stack.registryUrl, writer, "up/windowed")).toEqual([]);
        expect(agent.state.state.upstreamAfter).toBe(upstreamBefore);

        // 12:00: the push runs again and the parent serves the whole image.
        await eventually(async () => (await tagsAt(stack.registryUrl, writer, "up/windowed")).includes("t1"), 30_000, "the push at the next window");
        await expectPullable(stack.registryUrl, writer, "up/windowed:t1", pushed.digest);
      } finally {
        await agent.stop();
      }
    },
    90_000,
  );
});

describe("the bandwidth cap", () => {
  it(
    "does not hold up the agent's stop: a capped download stops at once, and the restart resumes it",
    async () => {
      const pushed = await pushRandomImage(pusher, "capped/stop", "v1", [2 * MIB]);
      const blobBytes = [...pushed.bytes.values()].reduce((sum, bytes) => sum + bytes.length, 0);
      const reader = await clientToken(management, "stopreader", readActions("capped/stop"));
      const connectionString = await createConnectedRegistry(management, { name: "cappedstop", mode: "ReadOnly", repositories: ["capped/stop"], clientTokens: ["stopreader"] }, stack.registryHost);
      // 64 KiB/s: the 2 MiB layer would take 32 s.
      const first = await agentInProcess(connectionString, ["--max-bandwidth", "64KiB/s"]);
      await eventually(async () => first.agent.state.state.progress.bytesFetched >= 128 * KIB, 30_000, "the capped download under way");
      const stopping = performance.now();
      await first.agent.stop();
      expect((performance.now() - stopping) / 1000).toBeLessThan(3);
      const kept = first.agent.state.state.progress.bytesFetched;
      expect(kept).toBeLessThan(blobBytes);

      const second = await agentInProcess(connectionString, [], {}, first.dataDir);
      try {
        await eventually(async () => second.agent.state.state.cursor !== undefined, 30_000, "the sync after the restart");
        await expectPullable(second.agent.url, reader, "capped/stop:v1", pushed.digest);
        // The restart fetched only what the first run had not.
        expect(second.agent.state.state.progress.bytesFetched).toBe(blobBytes);
      } finally {
        await second.agent.stop();
      }
    },
    60_000,
  );

  it(
    "follows the resource's syncBandwidth while a sync runs, without a restart",
    async () => {
      const pushed = await pushRandomImage(pusher, "capped/follow", "v1", [6 * MIB]);
      const reader = await clientToken(management, "followreader", readActions("capped/follow"));
      const connectionString = await createConnectedRegistry(management, { name: "capfollow", mode: "ReadOnly", repositories: ["capped/follow"], clientTokens: ["followreader"] }, stack.registryHost);
      await expectStatus(management.call("PATCH", "connectedRegistries/capfollow", { syncBandwidth: "128KiB/s" }), 200);
      const { agent, logs } = await agentInProcess(connectionString, [], { bandwidthRecheckMs: 1_000 });
      try {
        const fetched = (): number => agent.state.state.progress.bytesFetched;
        const rateOver = async (ms: number): Promise<number> => {
          const [bytes, at] = [fetched(), performance.now()];
          await new Promise((resolve) => setTimeout(resolve, ms));
          return (fetched() - bytes) / ((performance.now() - at) / 1000);
        };
        await eventually(async () => fetched() >= 64 * KIB, 30_000, "the download under the resource's cap");
        const slow = await rateOver(3_000);
        expect(slow / (128 * KIB), `${(slow / KIB).toFixed(0)} KiB/s under a 128 KiB/s cap`).toBeGreaterThan(0.75);
        expect(slow / (128 * KIB)).toBeLessThan(1.25);

        // Raised in the cloud: the sync still running goes faster, the agent untouched.
        await expectStatus(management.call("PATCH", "connectedRegistries/capfollow", { syncBandwidth: "2MiB/s" }), 200);
        await eventually(async () => logs.some((line) => line.message === "sync bandwidth capped" && line.cap === "2.0 MiB/s"), 10_000, "the new cap applied");
        const fast = await rateOver(1_000);
        expect(fast, `${(fast / KIB).toFixed(0)} KiB/s after the cap went up to 2 MiB/s`).toBeGreaterThan(1 * MIB);
        await eventually(async () => agent.state.state.cursor !== undefined, 30_000, "the sync finished");
        await expectPullable(agent.url, reader, "capped/follow:v1", pushed.digest);
      } finally {
        await agent.stop();
      }
    },
    60_000,
  );

  it(
    "holds two concurrent downloads to one shared cap, within 15% over a few seconds",
    async () => {
      const sizes = [3 * MIB, 3 * MIB];
      const pushed = await pushRandomImage(pusher, "capped/fetch", "v1", sizes);
      const layers = pushed.blobs.slice(1);
      // The connected registry's sync token, as the agent fetches with it.
      const connectionString = await createConnectedRegistry(management, { name: "capped", mode: "ReadOnly", repositories: ["capped/fetch"] }, stack.registryHost);
      const password = /SyncTokenPassword=([^;]+)/.exec(connectionString)![1]!;
      const username = /SyncTokenName=([^;]+)/.exec(connectionString)![1]!;
      const client = new RegistryHttpClient({ protocol: "http", endpoint: stack.registryHost, username, password, userAgent: "edge-bandwidth-test" });
      try {
        const cap = 1 * MIB;
        const bandwidth = new BandwidthLimit();
        bandwidth.setRate(cap);
        let fetched = 0;
        const fetcher = new ContentFetcher(client, new FsBlobStore(await folder("store")), {
          concurrency: 4,
          acceptedMediaTypes: ACCEPT.split(", "),
          bandwidth,
          onBytes: (n) => {
            fetched += n;
          },
        });
        // The token and the first response before the clock starts: the cap is what is measured.
        await fetcher.ensureBlob("capped/fetch", pushed.blobs[0]!);
        fetched = 0;
        const started = performance.now();
        const finished = await Promise.all(layers.map(async (digest, i) => {
          await fetcher.ensureBlob("capped/fetch", digest, sizes[i]);
          return (performance.now() - started) / 1000;
        }));
        const seconds = (performance.now() - started) / 1000;
        const rate = fetched / seconds;
        expect(fetched).toBe(6 * MIB);
        // One cap each would take 3 s (2 MiB/s together); one shared cap takes 6 s, both finishing near the end.
        expect(rate / cap, `measured ${(rate / MIB).toFixed(3)} MiB/s against a cap of 1 MiB/s over ${seconds.toFixed(2)} s`).toBeGreaterThan(0.85);
        expect(rate / cap).toBeLessThan(1.15);
        for (const at of finished) expect(at).toBeGreaterThan(seconds * 0.8);
      } finally {
        client.close();
      }
    },
    60_000,
  );
});
