/**
 * The first-sync part of bench/edge.ts alone, repeated: the cloud stack once, 10 images of
 * 4 x 5 MiB pushed once, then fresh edges synced from it, run after run, alternating between
 * the bundles given (to compare a change against a copy of the previous build on a quiet
 * machine). Prints per run the wall time and the CPU seconds of the agent and the cloud.
 *   node dist/bench/edge-first-sync.js [--runs=N] [--cli=a.mjs --cli=b.mjs] [--agent-arg=--flag=value ...] [--prof=dir] [--cloud-prof=dir] [--skopeo]
 * With several --cli, each run also gives every variant's time over the first one's (paired).
 * --prof runs the agent under node --cpu-prof (profiles in dir; bench/profile-summary.ts);
 * --cloud-prof=dir the cloud's processes (registry, Azurite, Cosmos DB server: one profile each, at the end).
 * --skopeo adds, to every run, the peer of bench/edge.ts's first-sync figure: `skopeo sync` of
 * the same images from the same cloud into a fresh docker-registry (wall time; CPU of skopeo
 * itself, by /usr/bin/time, and of docker-registry), first in odd runs and last in even ones;
 * the medians end with the ratio skopeo / edge per bundle.
 * It ends with the host probe of bench:edge (host-probe.ts), read at its start and its end.
 * PERF_DIR=dir records each agent with `perf record -g` once it serves (cpu-clock at 2 kHz, or
 * the event PERF_EVENT names: page-faults shows where fresh memory is touched).
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes, randomFillSync } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { pushBlobMonolithic, sha256Digest } from "./blobs.js";
import { cpuDelta, cpuSeconds, processDetail, readCpu, waitForQuietMachine } from "./cpu.js";
import { startDistribution } from "./distribution.js";
import { startEdgeAgent, waitUntilSynced } from "./edge-process.js";
import { describeHostPhases, probeHost } from "./host-probe.js";
import { call, expectStatus, management, pushToken } from "./http.js";
import { makeAdminKey } from "./identity.js";
import { OCI_MANIFEST } from "./manifests.js";
import { startOurs } from "./our-stack.js";
import { confinedSkopeo } from "./skopeo.js";
import { median, MIB } from "./stats.js";

const execFileAsync = promisify(execFile);
const IMAGES = 10;
const LAYERS = 4;
const LAYER_BYTES = 5 * MIB;
const REPOSITORY = "bench/sync";

const flag = (name: string): string[] => process.argv.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));
const runs = Number(flag("runs")[0] ?? 4);
/**
 * --cli="[NAME=value ...] [node flags ...] path [agent flags ...]": a bundle to run; environment
 * variables and Node's own flags before it (to compare V8 or malloc settings, e.g.
 * --cli="--max-semi-space-size=32 a.mjs" or --cli="MALLOC_ARENA_MAX=1 a.mjs"), the agent's after it
 * (to compare settings of one build, e.g. --cli="a.mjs --concurrency=4"). The path is the first
 * word ending in .mjs or .js.
 */
const variants = flag("cli").map((value) => {
  const words = value.split(" ").filter((word) => word !== "");
  const at = words.findIndex((word) => /\.m?js$/.test(word));
  if (at < 0) throw new Error(`--cli=${value}: no .mjs or .js file in it`);
  const before = words.slice(0, at);
  const isVariable = (word: string): boolean => /^[A-Z_][A-Z0-9_]*=/.test(word);
  const env = Object.fromEntries(before.filter(isVariable).map((word) => [word.slice(0, word.indexOf("=")), word.slice(word.indexOf("=") + 1)]));
  return { label: value, path: resolve(words[at]!), env, nodeArgs: before.filter((word) => !isVariable(word)), agentArgs: words.slice(at + 1) };
});
const bundles: Array<(typeof variants)[number] | undefined> = variants.length > 0 ? variants : [undefined];
const profDir = flag("prof")[0];
const cloudProfDir = flag("cloud-prof")[0];
/** --agent-arg=X: X goes on every agent's command line (e.g. --agent-arg=--concurrency=4). */
const agentArgs = flag("agent-arg");
/** --strace=dir: syscall counts of each agent (strace -c attached once it serves, so start-up is left out). */
const straceDir = flag("strace")[0];
const withSkopeo = process.argv.includes("--skopeo");

async function main(): Promise<void> {
  // The machine's phase, as bench:edge reads it: the figure moves with it more than with most changes.
  const hostAtStart = await probeHost();
  const workDir = await mkdtemp(join(tmpdir(), "edge-first-sync-"));
  const admin = await makeAdminKey();
  const cloud = await startOurs("cloud", join(workDir, "cloud"), { REGISTRY_ALLOW_ANONYMOUS: "false", ADMIN_KEY_HASH: admin.hash }, cloudProfDir ? { cpuProfileDir: resolve(cloudProfDir) } : {});
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const manage = management(cloud.baseUrl, admin.key);
    const { password, headers: auth } = await pushToken(manage, "pusher");
    for (let i = 0; i < IMAGES; i++) {
      const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") }));
      const configDigest = await pushBlobMonolithic(cloud.baseUrl, REPOSITORY, config, agent, auth);
      const layer = Buffer.allocUnsafe(LAYER_BYTES);
      const layers = [];
      for (let l = 0; l < LAYERS; l++) {
        randomFillSync(layer);
        layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: await pushBlobMonolithic(cloud.baseUrl, REPOSITORY, layer, agent, auth), size: LAYER_BYTES });
      }
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length }, layers }));
      const put = await call(new URL(`/v2/${REPOSITORY}/manifests/img${i}`, cloud.baseUrl), { method: "PUT", agent, timeoutMs: 60_000, headers: { ...auth, "content-type": OCI_MANIFEST }, body: manifest });
      expectStatus(put, 201, `PUT img${i}`);
      void sha256Digest;
    }
    if (profDir) await mkdir(profDir, { recursive: true });
    if (straceDir) await mkdir(straceDir, { recursive: true });
    const seconds = new Map<string, number[]>();
    const cpus = new Map<string, number[]>();
    const skopeo = withSkopeo ? await confinedSkopeo(join(workDir, "skopeo"), 300_000) : undefined;
    const skopeoRun = async (run: number): Promise<void> => {
      if (!skopeo) return;
      await execFileAsync("sync");
      await waitForQuietMachine(3_000);
      const target = await startDistribution(join(workDir, `distribution${run}`));
      try {
        const before = readCpu([...cloud.processes, ...target.processes]);
        const t0 = performance.now();
        const skopeoCpu = await skopeo(
          ["sync", "--src", "docker", "--dest", "docker", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-creds", `pusher:${password}`, "--dest-no-creds", "--preserve-digests", `${cloud.baseUrl.host}/${REPOSITORY}`, `${target.baseUrl.host}/mirror`],
          { cpuFile: join(workDir, `skopeo${run}.time`) },
        );
        const s = (performance.now() - t0) / 1000;
        const cpu = cpuDelta(before, readCpu([...cloud.processes, ...target.processes]));
        seconds.set("skopeo", [...(seconds.get("skopeo") ?? []), s]);
        cpus.set("skopeo", [...(cpus.get("skopeo") ?? []), skopeoCpu ?? 0]);
        const others = Object.entries(cpu).filter(([k]) => k !== "other-processes").map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ");
        console.log(`run ${run + 1} skopeo sync: ${s.toFixed(2)} s; CPU s: skopeo ${(skopeoCpu ?? 0).toFixed(2)}, ${others}`);
      } finally {
        await target.stop();
        // As the edge's data folder after its run: each run starts from the same disk, not with
        // the earlier mirrors' files piling up (and their pages filling the page cache).
        if (!process.env.KEEP_DATA) await rm(join(workDir, `distribution${run}`), { recursive: true, force: true });
      }
    };
    for (let run = 0; run < runs; run++) {
      if (run % 2 === 0) await skopeoRun(run);
      for (const cli of bundles) {
        const label = cli?.label ?? "built";
        await execFileAsync("sync");
        await waitForQuietMachine(3_000);
        const name = `edge${run}x${bundles.indexOf(cli)}`;
        const { connectionString } = await (async () => {
          await manage("POST", "connectedRegistries", { name, mode: "ReadOnly", repositories: [REPOSITORY] });
          return manage("POST", `connectedRegistries/${name}/settings`, { parentProtocol: "http", generatePassword: 1 });
        })();
        const dataDir = join(workDir, name);
        await mkdir(dataDir);
        const before = readCpu(cloud.processes);
        const edge = await startEdgeAgent({
          connectionString,
          dataDir,
          args: [...agentArgs, ...(cli?.agentArgs ?? [])],
          ...(cli ? { cli: cli.path, env: cli.env } : {}),
          nodeArgs: [...(cli?.nodeArgs ?? []), ...(profDir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(profDir, name)}`] : [])],
        });
        const perf = process.env.PERF_DIR ? spawn("perf", ["record", "-e", process.env.PERF_EVENT ?? "cpu-clock", ...(process.env.PERF_EVENT ? [] : ["-F", "2000"]), "-g", "-p", String(edge.pid), "-o", join(process.env.PERF_DIR, `${name}.data`)], { stdio: "ignore" }) : undefined;
        const tracer = straceDir ? spawn("strace", [...(process.env.STRACE_ARGS ?? "-c").split(" "), "-f", "-p", String(edge.pid), "-o", join(resolve(straceDir), `${name}.txt`)], { stdio: "ignore" }) : undefined;
        const done = await waitUntilSynced(edge, 300_000, 250);
        if (perf) {
          perf.kill("SIGINT");
          await new Promise((r) => perf.once("exit", r));
        }
        if (tracer) {
          tracer.kill("SIGINT");
          await new Promise((r) => tracer.once("exit", r));
        }
        const cloudCpu = cpuDelta(before, readCpu(cloud.processes));
        const edgeCpu = cpuSeconds(edge.pid) ?? 0;
        const userSys = processDetail(edge.pid) ?? "";
        await edge.stop();
        // Each run starts from the same disk: earlier runs' files would otherwise pile up.
        if (!process.env.KEEP_DATA) await rm(dataDir, { recursive: true, force: true });
        const s = (done - edge.spawnedAt) / 1000;
        seconds.set(label, [...(seconds.get(label) ?? []), s]);
        cpus.set(label, [...(cpus.get(label) ?? []), edgeCpu]);
        const others = Object.entries(cloudCpu).filter(([k]) => k !== "other-processes").map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ");
        console.log(`run ${run + 1} ${label}: ${s.toFixed(2)} s, start-up ${((edge.servingAt - edge.spawnedAt) / 1000).toFixed(2)} s; CPU s: edge-agent ${edgeCpu.toFixed(2)} (${userSys}), ${others}`);
      }
      if (run % 2 === 1) await skopeoRun(run);
    }
    const skopeoMedian = seconds.has("skopeo") ? median(seconds.get("skopeo")!) : undefined;
    for (const [label, list] of seconds) {
      const ratio = skopeoMedian !== undefined && label !== "skopeo" ? `; skopeo / edge ${(skopeoMedian / median(list)).toFixed(2)}x` : "";
      console.log(`median ${label}: ${median(list).toFixed(3)} s wall, ${label === "skopeo" ? "skopeo" : "edge-agent"} CPU ${median(cpus.get(label)!).toFixed(3)} s${ratio}`);
    }
    // Run to run, this machine's speed drifts more than most changes move the figure: each
    // variant against the first one in the same run (seconds apart) is the steadier comparison.
    const first = variants[0]?.label;
    for (const variant of variants.slice(1)) {
      const paired = seconds.get(variant.label)!.map((s, run) => s / seconds.get(first!)![run]!);
      console.log(`paired ${variant.label} / ${first}: median ${median(paired).toFixed(3)} (${paired.map((r) => r.toFixed(2)).join(" ")})`);
    }
    console.log(describeHostPhases(hostAtStart, await probeHost()));
  } finally {
    agent.destroy();
    await cloud.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

await main();
