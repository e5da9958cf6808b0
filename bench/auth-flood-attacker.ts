/**
 * The attacker of bench/auth-flood.ts, in a process of its own so its client work does not
 * share the measuring client's event loop: `connections` keep-alive connections from
 * another loopback address (127.0.0.2, so the server tells it from the legitimate client at
 * 127.0.0.1) send wrong passwords for one token name back to back, half to the token server
 * (GET /oauth2/token with Basic) and half straight to /v2/ (Basic), each with a fresh random
 * password (the worst case: no answer can be cached). Stops on "stop" over IPC and answers
 * with the count of responses by status.
 *
 * `spread: true` is the distributed attacker (a botnet): every request comes from a new
 * loopback address (127.1.0.0 on up) on a new connection, so no address ever has a failure
 * before its one attempt, and a per-address limit never applies.
 */
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";

interface AttackPlan {
  baseUrl: string;
  /** The token service (host:port) the token server expects. */
  service: string;
  tokenName: string;
  repository: string;
  connections: number;
  localAddress: string;
  spread: boolean;
  /** Where the spread addresses start: each run its own, so none carries failures from an earlier run. */
  spreadStart: number;
}

const plan = JSON.parse(process.argv[2] ?? "{}") as AttackPlan;
const agent = new Agent({ keepAlive: true, maxSockets: plan.connections, maxFreeSockets: plan.connections });
const counts: Record<string, number> = {};
let stopped = false;
let nextSpreadAddress = plan.spreadStart;

/** 127.1.0.0, 127.1.0.1, ...: 65,536 addresses before one comes again. */
function spreadAddress(): string {
  const n = nextSpreadAddress++ % 65_536;
  return `127.1.${n >> 8}.${n & 255}`;
}

function attempt(path: string): Promise<void> {
  const password = randomBytes(24).toString("base64url");
  return new Promise((resolve) => {
    const req = request(
      new URL(path, plan.baseUrl),
      { ...(plan.spread ? { agent: false, localAddress: spreadAddress() } : { agent, localAddress: plan.localAddress }), headers: { authorization: `Basic ${Buffer.from(`${plan.tokenName}:${password}`).toString("base64")}` } },
      (res) => {
        res.resume();
        res.on("end", () => {
          const key = String(res.statusCode);
          counts[key] = (counts[key] ?? 0) + 1;
          resolve();
        });
        res.on("error", () => resolve());
      },
    );
    req.setTimeout(30_000, () => req.destroy());
    req.on("error", () => {
      counts.error = (counts.error ?? 0) + 1;
      // A refused or reset connection: do not spin.
      setTimeout(resolve, 10);
    });
    req.end();
  });
}

async function connection(index: number): Promise<void> {
  const path =
    index % 2 === 0
      ? `/oauth2/token?service=${encodeURIComponent(plan.service)}&scope=${encodeURIComponent(`repository:${plan.repository}:pull`)}`
      : `/v2/${plan.repository}/manifests/v1`;
  while (!stopped) await attempt(path);
}

const running = Array.from({ length: plan.connections }, (_, i) => connection(i));
process.on("message", (message) => {
  if (message !== "stop") return;
  stopped = true;
  void Promise.all(running).then(() => {
    process.send?.({ counts });
    agent.destroy();
    process.exit(0);
  });
});
process.on("disconnect", () => process.exit(0));
process.send?.({ started: true });
