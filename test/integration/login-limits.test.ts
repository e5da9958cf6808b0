/**
 * Limits on failed logins (issue 11), in the cloud (the real local stack) and at an edge agent
 * (the built CLI, synced from that stack): after too many wrong passwords an address gets 429
 * with Retry-After at the token server and on /v2/ (Basic), a flood of one token name does not
 * lock out that token's legitimate client from another address, and the limits expire.
 * Clients are told apart by their loopback source address (test/support/from-address.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually, removeEdgeData, startEdge, type EdgeProcess } from "../support/edge.js";
import { basic, getFrom } from "../support/from-address.js";
import { ManagementClient } from "../support/management-client.js";
import { AuthorizedClient, basicAuthorization } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const WINDOW_SECONDS = 8;
/** Refusals are held this long before they are answered (1 s by default); short here to keep every step well inside a window. */
const REFUSAL_DELAY_MS = 200;
const PER_ADDRESS = 3;
const PER_TOKEN = 5;
const REPOSITORY = "hello-world";
/** One token per test, so one test's failures never count against another's name. */
const TOKENS = ["victim1", "victim2", "victim3", "victim4"] as const;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Target {
  url: string;
  host: string;
  /** The third octet of the addresses this target's tests use, so cloud and edge tests never share one. */
  net: number;
}

let stack: TestStack;
let edge: EdgeProcess;
const passwords: Record<string, string> = {};

beforeAll(async () => {
  stack = await startTestStack({
    anonymous: false,
    settings: { LOGIN_FAILURE_WINDOW_SECONDS: String(WINDOW_SECONDS), LOGIN_FAILURES_PER_ADDRESS: String(PER_ADDRESS), LOGIN_FAILURES_PER_TOKEN: String(PER_TOKEN), LOGIN_REFUSAL_DELAY_MS: String(REFUSAL_DELAY_MS) },
  });
  const management = new ManagementClient(stack.registryUrl);
  const adminPassword = await management.tokenWithPassword("cloudadmin", { scopeMap: "_repositories_admin" });
  await new AuthorizedClient(stack.registryUrl, basicAuthorization("cloudadmin", adminPassword)).pushImage(REPOSITORY, "latest");
  for (const name of TOKENS) passwords[name] = await management.tokenWithPassword(name, { repositories: [{ name: REPOSITORY, actions: ["content/read", "metadata/read"] }] });
  const connectionString = await createConnectedRegistry(management, { name: "limited", mode: "ReadOnly", repositories: [REPOSITORY], clientTokens: [...TOKENS] }, stack.registryHost);
  edge = await startEdge({
    connectionString,
    args: ["--login-failure-window", String(WINDOW_SECONDS), "--login-failures-per-address", String(PER_ADDRESS), "--login-failures-per-token", String(PER_TOKEN), "--login-refusal-delay-ms", String(REFUSAL_DELAY_MS)],
  });
  await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync");
}, 120_000);

afterAll(async () => {
  await edge?.stop();
  if (edge) await removeEdgeData(edge.dataDir);
  await stack?.destroy();
});

function limitTests(target: () => Target): void {
  const address = (host: number): string => `127.0.${target().net}.${host}`;
  const tokenUrl = (): string => `${target().url}/oauth2/token?service=${encodeURIComponent(target().host)}&scope=${encodeURIComponent(`repository:${REPOSITORY}:pull`)}`;
  const tokenFrom = (from: string, name: string, password: string) => getFrom(from, tokenUrl(), { Authorization: basic(name, password) });
  const v2From = (from: string, name: string, password: string) => getFrom(from, `${target().url}/v2/${REPOSITORY}/tags/list`, { Authorization: basic(name, password) });

  it("answers 429 with Retry-After and an actionable JSON error at the token server after too many wrong passwords from one address, even for the right one", async () => {
    const attacker = address(1);
    for (let i = 0; i < PER_ADDRESS; i++) expect((await tokenFrom(attacker, "victim1", `wrong-${i}`)).status).toBe(401);
    const refused = await tokenFrom(attacker, "victim1", "wrong-again");
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
    const body = refused.json<{ error: string; error_description: string; errors: Array<{ code: string; message: string }> }>();
    expect(body.errors[0]!.code).toBe("TOOMANYREQUESTS");
    expect(body.error).toBe("temporarily_unavailable");
    expect(body.error_description).toMatch(/too many failed logins from 127\.0\.\d+\.1 .*try again in \d+ s.*check the token name and password/);
    expect(body.error_description).not.toContain("wrong-again");
    // Per address the limit is strict: the right password is not checked either.
    expect((await tokenFrom(attacker, "victim1", passwords.victim1!)).status).toBe(429);
    // Another address is not affected.
    expect((await tokenFrom(address(2), "victim1", passwords.victim1!)).status).toBe(200);
  });

  it("answers 429 TOOMANYREQUESTS with Retry-After on /v2/ after too many wrong Basic passwords", async () => {
    const attacker = address(3);
    for (let i = 0; i < PER_ADDRESS; i++) expect((await v2From(attacker, "victim2", `wrong-${i}`)).status).toBe(401);
    const refused = await v2From(attacker, "victim2", "wrong-again");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(refused.headers["docker-distribution-api-version"]).toBe("registry/2.0");
    const body = refused.json<{ errors: Array<{ code: string; message: string }> }>();
    expect(body.errors[0]!.code).toBe("TOOMANYREQUESTS");
    expect(body.errors[0]!.message).toMatch(/try again in \d+ s/);
    // The token server counts the same failures: the address is refused there too.
    expect((await tokenFrom(attacker, "victim2", passwords.victim2!)).status).toBe(429);
  });

  it("keeps a token's legitimate client logging in from its own address while attackers flood that token's name", async () => {
    // One wrong password from each of PER_TOKEN + 1 addresses: none reaches its own limit, the name passes its.
    const attackers = Array.from({ length: PER_TOKEN + 1 }, (_, i) => address(10 + i));
    for (const attacker of attackers) expect((await tokenFrom(attacker, "victim3", "guess")).status).toBe(401);
    // Attackers that already failed are refused for this name, at the token server and on /v2/.
    expect((await tokenFrom(attackers[0]!, "victim3", "another-guess")).status).toBe(429);
    expect((await v2From(attackers[1]!, "victim3", "another-guess")).status).toBe(429);
    // The legitimate client, from an address that has not failed, logs in both ways.
    const legitimate = address(30);
    const token = await tokenFrom(legitimate, "victim3", passwords.victim3!);
    expect(token.status).toBe(200);
    const bearer = token.json<{ access_token: string }>().access_token;
    expect((await getFrom(legitimate, `${target().url}/v2/${REPOSITORY}/tags/list`, { Authorization: `Bearer ${bearer}` })).status).toBe(200);
    expect((await v2From(legitimate, "victim3", passwords.victim3!)).status).toBe(200);
    // A new attacker address gets one guess for this name, then 429.
    const newcomer = address(31);
    expect((await tokenFrom(newcomer, "victim3", "guess")).status).toBe(401);
    expect((await tokenFrom(newcomer, "victim3", "guess-2")).status).toBe(429);
  });

  it("counts wrong token names against the address too", async () => {
    const prober = address(40);
    for (let i = 0; i < PER_ADDRESS; i++) expect((await tokenFrom(prober, `nobody-${i}`, "guess")).status).toBe(401);
    expect((await tokenFrom(prober, "victim4", passwords.victim4!)).status).toBe(429);
  });

  it("lets an address log in again once its window is over", async () => {
    const attacker = address(50);
    for (let i = 0; i < PER_ADDRESS; i++) expect((await tokenFrom(attacker, "victim4", `wrong-${i}`)).status).toBe(401);
    const refused = await tokenFrom(attacker, "victim4", passwords.victim4!);
    expect(refused.status).toBe(429);
    await sleep(Number(refused.headers["retry-after"]) * 1000 + 250);
    expect((await tokenFrom(attacker, "victim4", passwords.victim4!)).status).toBe(200);
    expect((await v2From(attacker, "victim4", passwords.victim4!)).status).toBe(200);
  });
}

describe("failed-login limits in the cloud", () => {
  limitTests(() => ({ url: stack.registryUrl, host: stack.registryHost, net: 1 }));
});

describe("failed-login limits at the edge", () => {
  limitTests(() => ({ url: edge.url, host: edge.host, net: 2 }));

  it("logged each address reaching its limit once, with the address and token name and no password", () => {
    const warnings = edge.logs.filter((line) => String(line.message).startsWith("failed-login limit reached by a client address"));
    const attacker = warnings.filter((line) => line.clientAddress === "127.0.2.1");
    expect(attacker).toHaveLength(1);
    expect(attacker[0]).toMatchObject({ level: "warn", tokenName: "victim1" });
    expect(warnings.some((line) => line.clientAddress === "127.0.2.30")).toBe(false);
    const everything = JSON.stringify(edge.logs);
    for (const password of [...Object.values(passwords), "wrong-again", "another-guess"]) expect(everything).not.toContain(password);
  });
});
