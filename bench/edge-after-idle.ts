/**
 * A sync after an idle spell, which is what a long-running edge does all day (the first-sync
 * benchmark starts a fresh agent every run, so it never sees this). Per run, for each variant,
 * alternating: a fresh edge syncs a small seed image, idles (V8's memory reducer acts after
 * ~8 s without allocation), then 10 images of 4 x 5 MiB are mounted and tagged into its
 * repository in the cloud; measured until all 10 tags are in the edge's store: the agent's
 * CPU seconds, and the seconds from the last tag in the cloud (which include the wait for
 * the agent's next sync cycle, up to 2 s).
 *   node dist/bench/edge-after-idle.js [--runs=N] [--idle=SECONDS]
 * Variants: "V8 default" runs the agent with --heap-growing-percent=0 (V8's own heuristics:
 * the agent keeps an operator's flag), "as shipped" without it (edge-agent/src/heap-growth.ts).
 */
import { randomBytes, randomFillSync } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pushBlobMonolithic } from "./blobs.js";
import { cpuSeconds, waitForQuietMachine } from "./cpu.js";
import { startEdgeAgent, waitUntilSynced } from "./edge-process.js";
import { call, expectStatus, management, pushToken } from "./http.js";
import { makeAdminKey } from "./identity.js";
import { OCI_MANIFEST } from "./manifests.js";
import { startOurs } from "./our-stack.js";
import { median, MIB } from "./stats.js";

const IMAGES = 10;
const LAYERS = 4;
const LAYER_BYTES = 5 * MIB;
const STAGING = "bench/staging";
const flag = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const runs = Number(flag("runs") ?? 4);
const idleSeconds = Number(flag("idle") ?? 25);
const VARIANTS = [
  { label: "V8 default", nodeArgs: ["--heap-growing-percent=0"] },
  { label: "as shipped", nodeArgs: [] },
] as const;

interface Image {
  manifest: Buffer;
  blobs: string[];
}

async function main(): Promise<void> {
  const workDir = await mkdtemp(join(tmpdir(), "edge-after-idle-"));
  const admin = await makeAdminKey();
  const cloud = await startOurs("cloud", join(workDir, "cloud"), { REGISTRY_ALLOW_ANONYMOUS: "false", ADMIN_KEY_HASH: admin.hash });
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const manage = management(cloud.baseUrl, admin.key);
    const { headers: auth } = await pushToken(manage, "pusher");
    const putManifest = async (repository: string, tag: string, manifest: Buffer): Promise<void> => {
      const put = await call(new URL(`/v2/${repository}/manifests/${tag}`, cloud.baseUrl), { method: "PUT", agent, timeoutMs: 60_000, headers: { ...auth, "content-type": OCI_MANIFEST }, body: manifest });
      expectStatus(put, 201, `PUT ${repository}:${tag}`);
    };
    const imageOf = (config: Buffer, configDigest: string, layers: Array<{ digest: string; size: number }>): Image => ({
      manifest: Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
        layers: layers.map((layer) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layer })),
      })),
      blobs: [configDigest, ...layers.map((layer) => layer.digest)],
    });
    const newConfig = (): Buffer => Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") }));

    // The images are pushed once, to a repository no edge syncs; each run mounts them into its own.
    const images: Image[] = [];
    const layer = Buffer.allocUnsafe(LAYER_BYTES);
    for (let i = 0; i < IMAGES; i++) {
      const config = newConfig();
      const configDigest = await pushBlobMonolithic(cloud.baseUrl, STAGING, config, agent, auth);
      const layers = [];
      for (let l = 0; l < LAYERS; l++) {
        randomFillSync(layer);
        layers.push({ digest: await pushBlobMonolithic(cloud.baseUrl, STAGING, layer, agent, auth), size: LAYER_BYTES });
      }
      images.push(imageOf(config, configDigest, layers));
    }

    const results = new Map<string, { seconds: number[]; cpu: number[] }>(VARIANTS.map((v) => [v.label, { seconds: [], cpu: [] }]));
    for (let run = 0; run < runs; run++) {
      // Odd runs start with the other variant: neither always goes first after the other's run.
      const order = run % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      for (const variant of order) {
        const name = `idle${run}x${VARIANTS.indexOf(variant)}`;
        const repository = `bench/${name}`;
        const seedConfig = newConfig();
        const seedDigest = await pushBlobMonolithic(cloud.baseUrl, repository, seedConfig, agent, auth);
        const seedLayer = randomBytes(1024);
        const seedLayerDigest = await pushBlobMonolithic(cloud.baseUrl, repository, seedLayer, agent, auth);
        await putManifest(repository, "seed", imageOf(seedConfig, seedDigest, [{ digest: seedLayerDigest, size: seedLayer.length }]).manifest);
        await manage("POST", "connectedRegistries", { name, mode: "ReadOnly", repositories: [repository] });
        const { connectionString } = await manage("POST", `connectedRegistries/${name}/settings`, { parentProtocol: "http", generatePassword: 1 });
        const dataDir = join(workDir, name);
        await mkdir(dataDir);
        const edge = await startEdgeAgent({ connectionString, dataDir, syncIntervalSeconds: 2, nodeArgs: [...variant.nodeArgs] });
        try {
          await waitUntilSynced(edge, 60_000);
          await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
          await waitForQuietMachine(3_000);
          const cpuBefore = cpuSeconds(edge.pid) ?? 0;
          for (const [i, image] of images.entries()) {
            for (const digest of image.blobs) {
              const mounted = await call(new URL(`/v2/${repository}/blobs/uploads/?mount=${digest}&from=${STAGING}`, cloud.baseUrl), { method: "POST", agent, timeoutMs: 60_000, headers: auth, body: Buffer.alloc(0) });
              expectStatus(mounted, 201, `mount ${digest}`);
            }
            await putManifest(repository, `img${i}`, image.manifest);
          }
          const tagged = performance.now();
          const tagsDir = join(dataDir, "metadata", "repositories", repository, "_tags");
          const deadline = Date.now() + 120_000;
          for (;;) {
            const names = await readdir(tagsDir).catch(() => [] as string[]);
            if (images.every((_, i) => names.includes(`img${i}.json`))) break;
            if (Date.now() > deadline) throw new Error(`${name}: the 10 images were not synced within 120 s`);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          const seconds = (performance.now() - tagged) / 1000;
          const cpu = (cpuSeconds(edge.pid) ?? 0) - cpuBefore;
          results.get(variant.label)!.seconds.push(seconds);
          results.get(variant.label)!.cpu.push(cpu);
          console.log(`run ${run + 1} ${variant.label}: synced ${seconds.toFixed(2)} s after the last tag; agent CPU ${cpu.toFixed(2)} s`);
        } finally {
          await edge.stop();
          await rm(dataDir, { recursive: true, force: true });
        }
      }
    }
    const bytes = IMAGES * LAYERS * LAYER_BYTES;
    console.log(`\nsync of ${IMAGES} images (${bytes / MIB} MiB) after ${idleSeconds} s idle, median of ${runs}:`);
    for (const [label, { seconds, cpu }] of results) {
      console.log(`  ${label.padEnd(10)}  ${median(seconds).toFixed(2)} s after the last tag, agent CPU ${median(cpu).toFixed(2)} s (${cpu.map((c) => c.toFixed(2)).join(" ")})`);
    }
  } finally {
    agent.destroy();
    await cloud.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

await main();
