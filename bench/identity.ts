/**
 * The identity figures, on two of our stacks started side by side (auth on, and auth off
 * with REGISTRY_ALLOW_ANONYMOUS=true), both loopback:
 *   1. manifest GET with auth on (a Bearer token fetched once; Basic sent straight to /v2/)
 *      against auth off, 16 keep-alive connections, in short interleaved rounds (off,
 *      bearer, basic, then basic, bearer, off, ...) so that drift in the machine's speed
 *      hits every mode alike
 *   2. token issuance: Basic (token name + password) -> JWT at GET /oauth2/token, the
 *      steady state (verified pair cached) over 16 keep-alive connections for ~5 s, then
 *      first calls with cold passwords (never checked before) one at a time, and 16 cold logins at once
 * Tokens and their 500-action scope map are created through the management API.
 */
import { readdirSync } from "node:fs";
import { Agent, type OutgoingHttpHeaders } from "node:http";
import { join } from "node:path";
import { generatePassword, hashPassword, verifyPassword } from "../shared/auth/passwords.js";
import { cpuDelta, OTHER, readCpu, waitForQuietMachine, type ProcessRef } from "./cpu.js";
import { call, expectStatus, type BufferedResponse } from "./http.js";
import { combineRounds, loadGets, type LoadOptions, type LoadResult } from "./load.js";
import { loadManifestRound, pushSmallImage } from "./manifests.js";
import { scopeMapActionTexts, scopeMapShape } from "./scope-map-fixture.js";
import { busyTimeIn, readProfile } from "./profile-summary.js";
import { percentile } from "./stats.js";
import { fmt } from "./suite.js";
import type { Target } from "./target.js";

export const IMAGE_REPOSITORY = "bench/image";
const IMAGE_TAG = "v1";
const SCOPE_MAP = "bench-scope-map";
const LOAD_TOKEN = "bench-token";
const FIRST_CALL_TOKENS = 20;
const BURST_TOKENS = 16;
/** Concurrent management calls while creating tokens (each password generated and hashed). */
const SETUP_CONCURRENCY = 4;
const TIMEOUT_MS = 30_000;
/** Waits for a quiet machine before a phase. */
const QUIET_WAIT_MS = 3_000;
const INTERFERENCE_SHARE = 0.15;

export type ManifestMode = "off" | "bearer" | "basic";
/**
 * Blocks of one round per mode, back to back, alternately ABC and CBA: a drift in the
 * machine's speed (other work starting or stopping) hits every mode alike, and each block
 * gives a ratio of its own. Each mode gets BLOCKS rounds of load.durationMs x 2 / BLOCKS:
 * twice the existing manifest benchmark's time, in short slices.
 */
const BLOCKS = 8;
const MODES_PER_BLOCK = 3;
const ROUND_ORDER: ManifestMode[] = Array.from({ length: BLOCKS }, (_, b): ManifestMode[] =>
  b % 2 === 0 ? ["off", "bearer", "basic"] : ["basic", "bearer", "off"],
).flat();
/** Before the rounds, each registry runs this long unrecorded, so both JITs are warm alike. */
const MODE_WARM_UP_MS = 2_000;
/** Each round re-opens its connections: a short warm-up of its own. */
const ROUND_WARM_UP_MS = 250;

type CpuSeconds = Record<string, number>;

export interface Latencies {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  minMs: number;
}

export interface IdentityResult {
  authOn: string;
  authOff: string;
  setup: { scopeMapActions: number; tokens: number; seconds: number };
  /** One scrypt verification (the admin key's form, and token passwords stored before the fast form) in the benchmark process, for reference. */
  scryptVerifyMs?: number;
  /** First GET /oauth2/token of each of FIRST_CALL_TOKENS tokens, one at a time: the first password check + Cosmos reads + signing. */
  firstCall?: Latencies;
  /** The second call of the same tokens, one at a time: the verified pair is cached. */
  secondCall?: Latencies;
  /** BURST_TOKENS first calls sent at once. */
  coldBurst?: Latencies & { seconds: number; loginsPerSecond: number };
  /** Steady state: one token, 16 connections. */
  issuance?: LoadResult & { cpu: CpuSeconds; wallSeconds: number; windowUs: [number, number] };
  manifests?: {
    /** Each mode gets BLOCKS rounds of this long: load.durationMs x 2 in all. */
    roundSeconds: number;
    /** When the rounds ran, in µs on process.hrtime's clock (a CPU profile's clock too). */
    windowUs: [number, number];
    rounds: Array<{ mode: ManifestMode } & LoadResult & { cpu: CpuSeconds; wallSeconds: number }>;
    byMode: Partial<Record<ManifestMode, LoadResult & { cpu: CpuSeconds; wallSeconds: number }>>;
    /** req/s with auth over req/s without, all rounds pooled. */
    ratio: { bearer?: number; basic?: number };
    /** The same ratio within each block of three adjacent rounds: its spread shows the noise. */
    blockRatios: { bearer: number[]; basic: number[] };
    /** Per block, the most CPUs that other work on the machine used during one of its rounds. */
    blockOtherCores: number[];
  };
  /** With BENCH_CPU_PROF: where the auth-on registry's time went, from its CPU profile. */
  profile?: ProfileBreakdown;
  notes: string[];
}

export interface ProfileBreakdown {
  file: string;
  /** Busy ms of the registry's thread during the manifest rounds, and in auth code (bearer and basic rounds). */
  rounds?: { busyMs: number; ms: Record<string, number> };
  /** Busy ms during the token issuance load, and in its main parts. */
  issuance?: { busyMs: number; ms: Record<string, number> };
}

/** Frames ("<function>@<url>") that make up each part, for busyTimeIn. */
const AUTH_FRAMES = { "auth code (shared/auth, covers, grantAccess)": ["/shared/auth/", "covers@", "grantAccess@"] };
const ISSUANCE_FRAMES = {
  "scope map parse + compile (TokenDirectory.stateOf)": ["stateOf@"],
  "ES256 signing (TokenIssuer.issueAccess)": ["issueAccess@"],
  "Cosmos DB SDK (token + scope map reads)": ["/@azure/cosmos/"],
  "password check (cached pair)": ["matches@"],
};

/** Reads the auth-on registry's CPU profile (written when it exited) for the windows of the result. */
export function profileBreakdown(dir: string, pid: number, result: IdentityResult): ProfileBreakdown | undefined {
  const name = readdirSync(dir).find((f) => f.endsWith(".cpuprofile") && f.includes(`.${pid}.`));
  if (!name) return undefined;
  const profile = readProfile(join(dir, name));
  const breakdown: ProfileBreakdown = { file: join(dir, name) };
  if (result.manifests) breakdown.rounds = busyTimeIn(profile, ...result.manifests.windowUs, AUTH_FRAMES);
  if (result.issuance) breakdown.issuance = busyTimeIn(profile, ...result.issuance.windowUs, ISSUANCE_FRAMES);
  return breakdown;
}

export interface IdentityOptions {
  load: LoadOptions;
  deadline: number;
  adminKey: string;
  log: (message: string) => void;
}

/** The label of the registry process that serves `mode` in CPU readings. */
export const registryLabel = (mode: ManifestMode): string => (mode === "off" ? "off:registry" : "on:registry");

const basic = (name: string, password: string): string => `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}`;
const ms = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e6;
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

function latencies(values: number[]): Latencies {
  const array = Float64Array.from(values);
  return {
    count: values.length,
    p50Ms: percentile(array, values.length, 50),
    p99Ms: percentile(array, values.length, 99),
    maxMs: percentile(array, values.length, 100),
    minMs: array[0] ?? Number.NaN,
  };
}

async function management(target: Target, adminKey: string, agent: Agent, method: string, path: string, body: unknown): Promise<BufferedResponse> {
  return call(new URL(`/management/${path}`, target.baseUrl), {
    method,
    agent,
    timeoutMs: TIMEOUT_MS,
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: Buffer.from(JSON.stringify(body)),
  });
}

/** Runs `work` over `items`, `concurrency` at a time. */
async function pool<T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]!);
      }
    }),
  );
  return results;
}

/** Creates a token on the shared scope map and returns its password1. */
async function createToken(target: Target, adminKey: string, agent: Agent, name: string): Promise<string> {
  expectStatus(await management(target, adminKey, agent, "POST", "tokens", { name, scopeMap: SCOPE_MAP }), 201, `create token ${name}`);
  const generated = await management(target, adminKey, agent, "POST", `tokens/${name}/credentials/generate`, { name: "password1" });
  expectStatus(generated, 200, `generate password for ${name}`);
  const password = (JSON.parse(generated.body.toString("utf8")) as { passwords: Array<{ value: string }> }).passwords[0]?.value;
  if (!password) throw new Error(`no password in the answer for ${name}`);
  return password;
}

function tokenUrl(target: Target, scope: string): URL {
  const url = new URL("/oauth2/token", target.baseUrl);
  url.searchParams.set("service", target.baseUrl.host);
  url.searchParams.set("scope", scope);
  return url;
}

function tokenProblem(status: number, body: Buffer): string | undefined {
  return status === 200 && body.includes('"token":"') ? undefined : `status ${status}: ${body.toString("utf8").slice(0, 300)}`;
}

async function fetchToken(target: Target, agent: Agent, name: string, password: string, scope: string): Promise<string> {
  const response = await call(tokenUrl(target, scope), { method: "GET", agent, timeoutMs: TIMEOUT_MS, headers: { authorization: basic(name, password) } });
  expectStatus(response, 200, `token for ${name} (${scope})`);
  return (JSON.parse(response.body.toString("utf8")) as { token: string }).token;
}

export async function runIdentity(authOn: Target, authOff: Target, options: IdentityOptions): Promise<IdentityResult> {
  const { log, adminKey } = options;
  const result: IdentityResult = {
    authOn: authOn.baseUrl.href,
    authOff: authOff.baseUrl.href,
    setup: { scopeMapActions: 0, tokens: 0, seconds: 0 },
    notes: [],
  };
  const client: ProcessRef = { label: "bench-client", pid: process.pid };
  // Both stacks' processes in every reading, so "other-processes" is only what the benchmark did not start.
  const processes: ProcessRef[] = [
    client,
    ...authOn.processes.map((p) => ({ label: `on:${p.label}`, pid: p.pid })),
    ...authOff.processes.map((p) => ({ label: `off:${p.label}`, pid: p.pid })),
  ];
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const timeLeft = (): boolean => Date.now() < options.deadline;
  const skipped = (what: string): void => {
    result.notes.push(`${what} skipped: time budget spent`);
    log(`  identity: ${what} skipped: time budget spent`);
  };
  const settle = async (phase: string, maxMs = QUIET_WAIT_MS): Promise<void> => {
    const busy = await waitForQuietMachine(maxMs);
    if (busy !== undefined && busy >= 0.25) result.notes.push(`before ${phase}: the machine stayed busy (${busy.toFixed(2)} CPUs) without the benchmark`);
  };
  const checkInterference = (phase: string, cpu: CpuSeconds, wallSeconds: number): void => {
    const other = cpu[OTHER] ?? 0;
    if (other > INTERFERENCE_SHARE * wallSeconds) result.notes.push(`${phase}: other processes on the machine used ${other.toFixed(2)} CPU-s in ${wallSeconds.toFixed(2)} s`);
  };

  try {
    // Setup: one 500-action scope map (exact names, a/b/* prefixes, deep names; it grants
    // bench/image read and write), the load token, and tokens whose passwords stay cold.
    // The auth-off stack gets the same calls (its management API and token server work as
    // usual), so that both registry processes have the same history before the rounds.
    const setupStarted = Date.now();
    const actions = scopeMapActionTexts(scopeMapShape(0, [IMAGE_REPOSITORY]));
    const names = [
      LOAD_TOKEN,
      ...Array.from({ length: FIRST_CALL_TOKENS }, (_, i) => `bench-first-${String(i).padStart(2, "0")}`),
      ...Array.from({ length: BURST_TOKENS }, (_, i) => `bench-burst-${String(i).padStart(2, "0")}`),
    ];
    const setUp = async (target: Target): Promise<Map<string, string>> => {
      const created = await management(target, adminKey, agent, "POST", "scopeMaps", { name: SCOPE_MAP, description: "benchmark: 500 actions", actions });
      expectStatus(created, 201, `create the 500-action scope map on ${target.key}`);
      const passwords = await pool(names, SETUP_CONCURRENCY / 2, (name) => createToken(target, adminKey, agent, name));
      return new Map(names.map((name, i) => [name, passwords[i]!]));
    };
    const [password, offPasswords] = await Promise.all([setUp(authOn), setUp(authOff)]);
    result.setup = { scopeMapActions: actions.length, tokens: names.length, seconds: (Date.now() - setupStarted) / 1000 };
    log(`  identity: on each stack, a scope map of ${actions.length} actions and ${names.length} tokens created in ${result.setup.seconds.toFixed(1)} s`);

    // The image to pull, pushed with a push token (the auth-off stack ignores it).
    const pushTokens = await Promise.all(
      [authOn, authOff].map((target) => fetchToken(target, agent, LOAD_TOKEN, (target === authOn ? password : offPasswords).get(LOAD_TOKEN)!, `repository:${IMAGE_REPOSITORY}:pull,push`)),
    );
    const manifestOn = await pushSmallImage(authOn.baseUrl, IMAGE_REPOSITORY, IMAGE_TAG, agent, { authorization: `Bearer ${pushTokens[0]}` });
    const manifestOff = await pushSmallImage(authOff.baseUrl, IMAGE_REPOSITORY, IMAGE_TAG, agent, { authorization: `Bearer ${pushTokens[1]}` });

    const pullScope = `repository:${IMAGE_REPOSITORY}:pull`;

    // Manifest GETs first, while both registries have seen little else: auth off, Bearer
    // (one token, fetched once), Basic straight to /v2/.
    if (timeLeft()) {
      const bearer = await fetchToken(authOn, agent, LOAD_TOKEN, password.get(LOAD_TOKEN)!, pullScope);
      const modes: Record<ManifestMode, { target: Target; manifest: Buffer; headers: OutgoingHttpHeaders }> = {
        off: { target: authOff, manifest: manifestOff, headers: {} },
        bearer: { target: authOn, manifest: manifestOn, headers: { authorization: `Bearer ${bearer}` } },
        basic: { target: authOn, manifest: manifestOn, headers: { authorization: basic(LOAD_TOKEN, password.get(LOAD_TOKEN)!) } },
      };
      const rounds: NonNullable<IdentityResult["manifests"]>["rounds"] = [];
      const raw: Record<ManifestMode, Array<{ result: LoadResult; latenciesMs: Float64Array }>> = { off: [], bearer: [], basic: [] };
      const roundLoad: LoadOptions = { ...options.load, durationMs: (options.load.durationMs * 2) / BLOCKS, warmupMs: ROUND_WARM_UP_MS };
      await settle("manifest rounds");
      // Each registry process warms up for the same time: off alone, bearer and basic half each.
      for (const [mode, share] of [["off", 1], ["bearer", 0.5], ["basic", 0.5]] as const) {
        const { target, manifest, headers } = modes[mode];
        const warm = await loadManifestRound(target.baseUrl, IMAGE_REPOSITORY, IMAGE_TAG, manifest, { ...options.load, durationMs: MODE_WARM_UP_MS * share, warmupMs: 0 }, headers);
        if (warm.result.failures > 0) throw new Error(`manifest GET (${mode}) warm-up: ${warm.result.failures} wrong answers; first: ${warm.result.firstFailure}`);
      }
      const roundsFromUs = nowUs();
      for (const [i, mode] of ROUND_ORDER.entries()) {
        if (!timeLeft()) {
          skipped(`manifest rounds ${i + 1}-${ROUND_ORDER.length}`);
          break;
        }
        const { target, manifest, headers } = modes[mode];
        const before = readCpu(processes);
        const began = Date.now();
        const round = await loadManifestRound(target.baseUrl, IMAGE_REPOSITORY, IMAGE_TAG, manifest, roundLoad, headers);
        const wallSeconds = (Date.now() - began) / 1000;
        const cpu = cpuDelta(before, readCpu(processes));
        if (round.result.failures > 0) result.notes.push(`manifest GET (${mode}): ${round.result.failures} answers were not 200 with the manifest; first: ${round.result.firstFailure}`);
        rounds.push({ mode, ...round.result, cpu, wallSeconds });
        raw[mode].push(round);
        log(
          `  identity: manifest round ${i + 1} (${mode}): ${fmt(round.result.requestsPerSecond)} req/s, p50 ${fmt(round.result.p50Ms)} ms, ` +
            `p99 ${fmt(round.result.p99Ms)} ms; registry ${fmt(((cpu[registryLabel(mode)] ?? Number.NaN) * 1000) / round.result.requests)} CPU ms/request; ` +
            `CPU-s ${Object.entries(cpu).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ")}`,
        );
      }
      const roundsToUs = nowUs();
      const otherCores = rounds.map((r) => (r.cpu[OTHER] ?? 0) / r.wallSeconds);
      if (otherCores.some((c) => c > INTERFERENCE_SHARE)) {
        result.notes.push(
          `manifest rounds: other processes on the machine kept ${otherCores.filter((c) => c > INTERFERENCE_SHARE).length} of ${rounds.length} rounds busy ` +
            `(CPUs per round: ${otherCores.map((c) => c.toFixed(2)).join(", ")})`,
        );
      }
      const byMode: NonNullable<IdentityResult["manifests"]>["byMode"] = {};
      for (const mode of ["off", "bearer", "basic"] as const) {
        const mine = rounds.filter((r) => r.mode === mode);
        if (mine.length === 0) continue;
        const cpu: CpuSeconds = {};
        for (const r of mine) for (const [label, s] of Object.entries(r.cpu)) cpu[label] = Math.round(((cpu[label] ?? 0) + s) * 100) / 100;
        byMode[mode] = { ...combineRounds(raw[mode]), cpu, wallSeconds: mine.reduce((n, r) => n + r.wallSeconds, 0) };
      }
      const ratio = (mode: "bearer" | "basic"): number | undefined =>
        byMode[mode] && byMode.off ? byMode[mode].requestsPerSecond / byMode.off.requestsPerSecond : undefined;
      const blockRatios: { bearer: number[]; basic: number[] } = { bearer: [], basic: [] };
      const blockOtherCores: number[] = [];
      for (let b = 0; b + MODES_PER_BLOCK <= rounds.length; b += MODES_PER_BLOCK) {
        const block = rounds.slice(b, b + MODES_PER_BLOCK);
        blockOtherCores.push(Math.max(...otherCores.slice(b, b + MODES_PER_BLOCK)));
        const rps = (mode: ManifestMode): number => block.find((r) => r.mode === mode)?.requestsPerSecond ?? Number.NaN;
        blockRatios.bearer.push(rps("bearer") / rps("off"));
        blockRatios.basic.push(rps("basic") / rps("off"));
      }
      result.manifests = {
        roundSeconds: roundLoad.durationMs / 1000,
        windowUs: [roundsFromUs, roundsToUs],
        rounds,
        byMode,
        ratio: { bearer: ratio("bearer"), basic: ratio("basic") },
        blockRatios,
        blockOtherCores,
      };
    } else skipped("manifest rounds");

    // Token issuance, steady state, right after the rounds: one token, its pair verified
    // (by the calls above); every call still reads the token and its scope map (the token
    // server reads fresh) and signs an ES256 JWT.
    if (timeLeft()) {
      await settle("token issuance load");
      const before = readCpu(processes);
      const began = Date.now();
      const fromUs = nowUs();
      const { result: load } = await loadGets(tokenUrl(authOn, pullScope), { authorization: basic(LOAD_TOKEN, password.get(LOAD_TOKEN)!) }, tokenProblem, options.load);
      const wallSeconds = (Date.now() - began) / 1000;
      result.issuance = { ...load, cpu: cpuDelta(before, readCpu(processes)), wallSeconds, windowUs: [fromUs, nowUs()] };
      checkInterference("token issuance load", result.issuance.cpu, wallSeconds);
      if (load.failures > 0) result.notes.push(`token issuance: ${load.failures} answers were not 200 with a token; first: ${load.firstFailure}`);
      log(`  identity: token issuance ${fmt(load.requestsPerSecond)}/s over ${load.requests} requests, p50 ${fmt(load.p50Ms)} ms, p99 ${fmt(load.p99Ms)} ms, ${load.failures} failures`);
    } else skipped("token issuance load");

    // scrypt alone, here, for reference (admin keys and token passwords stored before the fast form).
    const sample = generatePassword();
    const sampleHash = await hashPassword(sample);
    const scryptSamples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      if (!(await verifyPassword(sample, sampleHash))) throw new Error("scrypt reference: the password did not verify");
      scryptSamples.push(ms(t0));
    }
    result.scryptVerifyMs = latencies(scryptSamples).p50Ms;

    const one = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // First calls, one at a time, over one warm connection: the uncached password check is paid here.
      await fetchToken(authOn, one, LOAD_TOKEN, password.get(LOAD_TOKEN)!, pullScope);
      const firstNames = names.filter((n) => n.startsWith("bench-first-"));
      const first: number[] = [];
      const second: number[] = [];
      for (const name of firstNames) {
        const t0 = process.hrtime.bigint();
        await fetchToken(authOn, one, name, password.get(name)!, pullScope);
        first.push(ms(t0));
      }
      for (const name of firstNames) {
        const t0 = process.hrtime.bigint();
        await fetchToken(authOn, one, name, password.get(name)!, pullScope);
        second.push(ms(t0));
      }
      result.firstCall = latencies(first);
      result.secondCall = latencies(second);
      log(
        `  identity: first call (cold password) p50 ${fmt(result.firstCall.p50Ms)} ms, max ${fmt(result.firstCall.maxMs)} ms; ` +
          `second call p50 ${fmt(result.secondCall.p50Ms)} ms; scrypt alone ${fmt(result.scryptVerifyMs)} ms`,
      );
    } finally {
      one.destroy();
    }

    // 16 cold logins at once, on 2 cores.
    if (timeLeft()) {
      const burstNames = names.filter((n) => n.startsWith("bench-burst-"));
      const burstAgent = new Agent({ keepAlive: true, maxSockets: BURST_TOKENS });
      try {
        const t0 = process.hrtime.bigint();
        const each = await Promise.all(
          burstNames.map(async (name) => {
            const t1 = process.hrtime.bigint();
            await fetchToken(authOn, burstAgent, name, password.get(name)!, pullScope);
            return ms(t1);
          }),
        );
        const seconds = ms(t0) / 1000;
        result.coldBurst = { ...latencies(each), seconds, loginsPerSecond: burstNames.length / seconds };
        log(`  identity: ${burstNames.length} cold logins at once in ${fmt(seconds * 1000)} ms (${fmt(result.coldBurst.loginsPerSecond)}/s)`);
      } finally {
        burstAgent.destroy();
      }
    } else skipped("cold burst");


    return result;
  } finally {
    agent.destroy();
  }
}

/** A fresh admin key and its hash, for the auth-on stack's ADMIN_KEY_HASH. */
export async function makeAdminKey(): Promise<{ key: string; hash: string }> {
  const key = generatePassword();
  return { key, hash: await hashPassword(key) };
}
