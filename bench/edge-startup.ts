/**
 * The edge agent's start-up: from spawning `node <entry> start` to its "connected registry
 * serving" log line (written once the socket listens), for the tsc build
 * (dist/edge-agent/src/cli.js, hundreds of modules from node_modules) and the esbuild bundle
 * (edge-agent/dist/connected-registry.mjs, one file), interleaved, median of 15 each. Also the
 * resident memory of the bundled agent once it has served for 5 s. The parent is an address
 * nobody listens on: the agent listens before it first contacts its parent, so the figure is
 * the same with a real one. `npm run bench:edge-startup` builds both and runs it; add
 * `-- --also=FILE` (a copy of an earlier bundle) to put another entry in the same interleaving.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { MALLOC_HUGE_PAGES } from "../scripts/edge-image/image-config.js";
import { median } from "./stats.js";

const ENTRIES: Record<string, string> = {
  "tsc build (dist/edge-agent/src/cli.js)": fileURLToPath(new URL("../edge-agent/src/cli.js", import.meta.url)),
  "esbuild bundle (edge-agent/dist/connected-registry.mjs)": fileURLToPath(new URL("../../edge-agent/dist/connected-registry.mjs", import.meta.url)),
};
for (const also of process.argv.filter((arg) => arg.startsWith("--also="))) ENTRIES[also.slice("--also=".length)] = resolve(also.slice("--also=".length));
const RUNS = 15;
const CONNECTION_STRING = "ConnectedRegistryName=startup1;SyncTokenName=startup1-sync;SyncTokenPassword=unused;ParentGatewayEndpoint=127.0.0.1:9;ParentEndpointProtocol=http";

interface Started {
  milliseconds: number;
  rssKiB?: number;
}

async function startOnce(entry: string, measureRss: boolean): Promise<Started> {
  const dataDir = await mkdtemp(join(tmpdir(), "edge-startup-"));
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [entry, "start", "--http", "--host", "127.0.0.1", "--port", "0", "--data", dataDir], {
    // As the image and the systemd unit start it.
    env: { ...process.env, ...MALLOC_HUGE_PAGES, CONNECTED_REGISTRY_CONNECTION_STRING: CONNECTION_STRING },
    stdio: ["ignore", "ignore", "pipe"],
  });
  try {
    const milliseconds = await new Promise<number>((resolve, reject) => {
      let text = "";
      child.stderr!.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('"connected registry serving"')) resolve(performance.now() - spawnedAt);
      });
      child.once("exit", (code) => reject(new Error(`the agent exited with ${code}: ${text}`)));
    });
    let rssKiB: number | undefined;
    if (measureRss) {
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const status = await readFile(`/proc/${child.pid}/status`, "utf8");
      rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    }
    return { milliseconds, ...(rssKiB !== undefined ? { rssKiB } : {}) };
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => (child.exitCode === null ? child.once("exit", resolve) : resolve(undefined)));
    await rm(dataDir, { recursive: true, force: true });
  }
}

const times = new Map<string, number[]>(Object.keys(ENTRIES).map((name) => [name, []]));
const rss = new Map<string, number>();
for (let run = 0; run < RUNS; run++) {
  for (const [name, entry] of Object.entries(ENTRIES)) {
    const started = await startOnce(entry, run === 0);
    if (run > 0) times.get(name)!.push(started.milliseconds); // the first run warms the page cache
    if (started.rssKiB !== undefined) rss.set(name, started.rssKiB);
  }
}
for (const [name, values] of times) {
  process.stdout.write(`${name}: start to listening median ${median(values).toFixed(0)} ms (min ${Math.min(...values).toFixed(0)}, max ${Math.max(...values).toFixed(0)}), RSS after 5 s ${((rss.get(name) ?? 0) / 1024).toFixed(0)} MiB\n`);
}
