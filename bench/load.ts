/**
 * Closed-loop GET load: a fixed number of keep-alive connections, each sending the same
 * request back to back, for a fixed time and at most a fixed number of requests. A
 * warm-up (not recorded) opens the connections and lets caches and JITs settle first.
 */
import { Agent, request as httpRequest, type OutgoingHttpHeaders } from "node:http";
import { assertLoopback } from "./http.js";
import { percentile } from "./stats.js";

export interface LoadOptions {
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  maxRequests: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Responses (warm-up included) that `check` refused. */
  failures: number;
  firstFailure?: string;
}

/** Says what is wrong with a response, or undefined when it is the expected one. */
export type ResponseCheck = (status: number, body: Buffer) => string | undefined;

/** The recorded latencies in ms come back too, for percentiles over several rounds. */
export async function loadGets(
  url: URL,
  headers: OutgoingHttpHeaders,
  check: ResponseCheck,
  options: LoadOptions,
): Promise<{ result: LoadResult; latenciesMs: Float64Array }> {
  assertLoopback(url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency, maxFreeSockets: options.concurrency });
  const latencies = new Float64Array(options.maxRequests);
  let count = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  let recording = false;
  let stopAt = 0;

  const getOnce = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const req = httpRequest(url, { agent, headers }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (chunk: Buffer) => parts.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const latencyMs = Number(process.hrtime.bigint() - t0) / 1e6;
          const problem = check(res.statusCode ?? 0, Buffer.concat(parts));
          if (problem !== undefined) {
            failures++;
            firstFailure ??= problem;
          }
          if (recording && count < options.maxRequests) latencies[count++] = latencyMs;
          resolve();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error(`GET ${url.pathname}: no answer within 10 s`)));
      req.on("error", reject);
      req.end();
    });

  const worker = async (): Promise<void> => {
    while (Date.now() < stopAt && count < options.maxRequests) await getOnce();
  };

  try {
    stopAt = Date.now() + options.warmupMs;
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    recording = true;
    const t0 = process.hrtime.bigint();
    stopAt = Date.now() + options.durationMs;
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const requests = count;
    const latenciesMs = latencies.slice(0, requests);
    return {
      result: {
        requests,
        seconds,
        requestsPerSecond: requests / seconds,
        p50Ms: percentile(latencies, requests, 50),
        p99Ms: percentile(latencies, requests, 99),
        maxMs: percentile(latencies, requests, 100),
        failures,
        ...(firstFailure ? { firstFailure } : {}),
      },
      latenciesMs,
    };
  } finally {
    agent.destroy();
  }
}

/** One figure from several rounds of the same load: requests over their summed time, percentiles over all latencies. */
export function combineRounds(rounds: ReadonlyArray<{ result: LoadResult; latenciesMs: Float64Array }>): LoadResult {
  const requests = rounds.reduce((n, r) => n + r.result.requests, 0);
  const seconds = rounds.reduce((n, r) => n + r.result.seconds, 0);
  const all = new Float64Array(requests);
  let at = 0;
  for (const round of rounds) {
    all.set(round.latenciesMs, at);
    at += round.latenciesMs.length;
  }
  const failures = rounds.reduce((n, r) => n + r.result.failures, 0);
  const firstFailure = rounds.find((r) => r.result.firstFailure)?.result.firstFailure;
  return {
    requests,
    seconds,
    requestsPerSecond: requests / seconds,
    p50Ms: percentile(all, requests, 50),
    p99Ms: percentile(all, requests, 99),
    maxMs: percentile(all, requests, 100),
    failures,
    ...(firstFailure ? { firstFailure } : {}),
  };
}
