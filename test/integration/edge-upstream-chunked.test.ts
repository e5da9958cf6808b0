/**
 * The ReadWrite edge's upstream push through a link that cuts every connection after a few
 * MiB (issue 14, point 4): what a front end's request time limit does to one long request.
 * Blobs go up in chunks and resume from the parent's upload status after each cut; an entry
 * that never moves is parked and the later ones go on. Real local cloud stack; the agent
 * runs in this process, as the CLI starts it.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEdgeAgent, type EdgeAgent } from "../../dist/edge-agent/src/agent.js";
import { createLogger } from "../../dist/edge-agent/src/log.js";
import { parseStartOptions } from "../../dist/edge-agent/src/options.js";
import { createConnectedRegistry, eventually } from "../support/edge.js";
import { basic, clientToken, parentLink, pushRandomImage, registryFetch, tagsAt, writeActions, type ParentLink } from "../support/edge-e2e.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const MIB = 1024 * 1024;

let stack: TestStack;
let management: ManagementClient;
const folders: string[] = [];
const links: ParentLink[] = [];

beforeAll(async () => {
  stack = await startTestStack({ anonymous: false });
  management = new ManagementClient(stack.registryUrl);
}, 120_000);

afterAll(async () => {
  for (const link of links) await link.close();
  await stack?.destroy();
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

async function agentInProcess(connectionString: string, args: string[]): Promise<{ agent: EdgeAgent; logs: Array<Record<string, unknown>> }> {
  const dataDir = await mkdtemp(join(tmpdir(), "edge-chunked-"));
  folders.push(dataDir);
  const options = await parseStartOptions(["--connection-string", connectionString, "--http", "--host", "127.0.0.1", "--port", "0", "--data", dataDir, "--sync-interval", "0.5", ...args], {});
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger("info", (line) => logs.push(JSON.parse(line) as Record<string, unknown>));
  return { agent: await startEdgeAgent(options, log), logs };
}

/** The blob as the parent serves it, hashed as it streams (sha256:...). */
async function parentDigestOf(repository: string, digest: string, creds: { username: string; password: string }): Promise<string> {
  const response = await registryFetch(stack.registryUrl, `/v2/${repository}/blobs/${digest}`, creds);
  expect(response.status).toBe(200);
  const hash = createHash("sha256");
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
  return `sha256:${hash.digest("hex")}`;
}

describe("the upstream push through a link that cuts every connection after 6 MiB", () => {
  it(
    "gets a 96 MiB layer to the parent byte-identical, in 4 MiB chunks that resume after each cut",
    async () => {
      const writer = await clientToken(management, "chunkwriter", writeActions("up/large"));
      const link = await parentLink(stack.registryHost, links, { cutAfterBytes: 6 * MIB });
      const connectionString = await createConnectedRegistry(management, { name: "chunkedrw", mode: "ReadWrite", repositories: ["up/large"], clientTokens: ["chunkwriter"] }, link.host);
      const { agent, logs } = await agentInProcess(connectionString, ["--upstream-chunk-size", "4MiB"]);
      try {
        await eventually(async () => agent.state.state.cursor !== undefined, 30_000, "the first (empty) sync");
        const pushed = await pushRandomImage(new AuthorizedClient(agent.url, basic(writer)), "up/large", "v1", [96 * MIB]);
        const started = performance.now();
        await eventually(async () => (await tagsAt(stack.registryUrl, writer, "up/large")).includes("v1"), 50_000, "the image at the parent");
        const seconds = (performance.now() - started) / 1000;
        if (process.env.EDGE_DEBUG) console.log(JSON.stringify(logs.filter((line) => line.level !== "debug"), null, 1));
        for (const digest of pushed.blobs) expect(await parentDigestOf("up/large", digest, writer)).toBe(digest);
        // Every connection that carried more than 6 MiB was cut: the 96 MiB could only go up by resuming.
        expect(link.cuts).toBeGreaterThanOrEqual(10);
        expect(agent.state.state.upstreamParked ?? []).toEqual([]);
        console.log(`96 MiB layer up through a link cut after 6 MiB: ${seconds.toFixed(1)} s, ${link.cuts} cuts`);
      } finally {
        await agent.stop();
      }
    },
    90_000,
  );

  it(
    "parks an entry that never moves (a 10 MiB chunk the link always cuts) and pushes the later small image",
    async () => {
      const writer = await clientToken(management, "parkwriter", [...writeActions("up/poison"), ...writeActions("up/later")]);
      const link = await parentLink(stack.registryHost, links, { cutAfterBytes: 6 * MIB });
      const connectionString = await createConnectedRegistry(management, { name: "parkedrw", mode: "ReadWrite", repositories: ["up/poison", "up/later"], clientTokens: ["parkwriter"] }, link.host);
      // 16 MiB chunks: the 10 MiB layer is one PATCH, cut every time before the parent takes any of it.
      const { agent } = await agentInProcess(connectionString, ["--upstream-chunk-size", "16MiB"]);
      try {
        await eventually(async () => agent.state.state.cursor !== undefined, 30_000, "the first (empty) sync");
        const local = new AuthorizedClient(agent.url, basic(writer));
        const poisoned = await pushRandomImage(local, "up/poison", "p1", [10 * MIB]);
        const later = await pushRandomImage(local, "up/later", "s1", [4096]);
        await eventually(async () => (await tagsAt(stack.registryUrl, writer, "up/later")).includes("s1"), 60_000, "the later image at the parent");
        for (const digest of later.blobs) expect(await parentDigestOf("up/later", digest, writer)).toBe(digest);
        // The poisoned image is not at the parent, and is shown parked.
        expect(await tagsAt(stack.registryUrl, writer, "up/poison")).toEqual([]);
        const status = (await (await fetch(`${agent.url}/status`)).json()) as { parkedUpstream: Array<{ repository: string; kind: string; tag?: string; digest?: string; error: string }> };
        expect(status.parkedUpstream.length).toBeGreaterThan(0);
        expect(status.parkedUpstream.every((entry) => entry.repository === "up/poison")).toBe(true);
        expect(status.parkedUpstream.some((entry) => entry.tag === "p1" || entry.digest === poisoned.digest)).toBe(true);
        expect(status.parkedUpstream[0]!.error).toMatch(/5 tries failed/);
        expect(link.cuts).toBeGreaterThanOrEqual(5);
      } finally {
        await agent.stop();
      }
    },
    90_000,
  );
});
