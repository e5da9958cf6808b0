/**
 * GET /healthz and GET /readyz of a real edge agent against the real local stack: what
 * Kubernetes probes and operators ask (docs/edge-agent.md, "Observability").
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectedRegistry, eventually, removeEdgeData, startEdge, type EdgeProcess } from "../support/edge.js";
import { ManagementClient } from "../support/management-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

async function probe(url: string): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const answer = await fetch(url);
  const text = await answer.text();
  return { status: answer.status, body: JSON.parse(text) as Record<string, unknown>, text };
}

describe("edge agent health endpoints", () => {
  let stack: TestStack;
  let connectionString: string;
  let edge: EdgeProcess;
  const password = (): string => /SyncTokenPassword=([^;]+)/.exec(connectionString)![1]!;
  /** The same connected registry, its parent at a port nothing listens on. */
  const unreachableParent = (): string => connectionString.replace(/ParentGatewayEndpoint=[^;]+/, "ParentGatewayEndpoint=127.0.0.1:1");

  beforeAll(async () => {
    stack = await startTestStack({ anonymous: false });
    const management = new ManagementClient(stack.registryUrl);
    await management.tokenWithPassword("puller", { scopeMap: "_repositories_pull" });
    connectionString = await createConnectedRegistry(management, { name: "probed1", mode: "ReadOnly", repositories: ["hello-world"], clientTokens: ["puller"] }, stack.registryHost);
    edge = await startEdge({ connectionString });
  }, 120_000);

  afterAll(async () => {
    await edge?.stop();
    if (edge) await removeEdgeData(edge.dataDir);
    await stack?.destroy();
  });

  it("answers live and, once activated, ready, without credentials and without names or passwords", async () => {
    const live = await probe(`${edge.url}/healthz`);
    expect(live.status).toBe(200);
    expect(live.body).toEqual({ status: "ok" });
    const ready = await eventually(async () => {
      const answer = await probe(`${edge.url}/readyz`);
      return answer.status === 200 && answer;
    }, 30_000, "readiness");
    expect(ready.body).toMatchObject({ status: "ready", activation: "Active" });
    for (const secretOrName of [password(), "puller", "probed1"]) expect(ready.text).not.toContain(secretOrName);
  });

  it("is not ready while the data folder takes no writes, and ready again when it does", async () => {
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync");
    // Root ignores permission bits, so the folder is taken away instead: a file stands where it was.
    const moved = `${edge.dataDir}.moved`;
    await rename(edge.dataDir, moved);
    // The agent syncs every 0.5 s and writes its state as it goes; it must not make the folder
    // again (a fresh folder holding a "synced" state and none of the content would be trusted
    // at the next start): its writes fail until the folder is back.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(existsSync(edge.dataDir), "the agent made its data folder again").toBe(false);
    const gone = await probe(`${edge.url}/readyz`);
    expect(gone.status).toBe(503);
    expect(gone.body.reason).toMatch(/data folder does not take writes \(ENOENT\)/);
    // Said where an operator looks: the condition in the status, and the log line naming the folder.
    expect(JSON.stringify(await edge.status())).toContain("DISK_ERROR");
    expect(edge.logs.some((entry) => String(entry.error ?? "").includes(`the data folder ${edge.dataDir} is gone (ENOENT)`)), JSON.stringify(edge.logs.slice(-5))).toBe(true);
    await writeFile(edge.dataDir, "not a folder", { flag: "wx" });
    try {
      const broken = await probe(`${edge.url}/readyz`);
      expect(broken.status).toBe(503);
      expect(broken.body.reason).toMatch(/data folder does not take writes \(ENOTDIR\)/);
      // Liveness stays: restarting the pod does not mend a volume. The sync goes on failing to
      // write meanwhile (cycles every 0.5 s here); the agent must live through it.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(edge.child.exitCode, JSON.stringify(edge.logs.slice(-8))).toBeNull();
      expect((await probe(`${edge.url}/healthz`)).status).toBe(200);
      expect((await probe(`${edge.url}/readyz`)).status).toBe(503);
    } finally {
      await rm(edge.dataDir);
      await rename(moved, edge.dataDir);
    }
    expect(edge.child.exitCode, JSON.stringify(edge.logs.slice(-5))).toBeNull();
    expect((await probe(`${edge.url}/readyz`)).status).toBe(200);
  });

  it("writes nothing into an empty folder put where its data folder was (an unmounted volume), and goes on once the folder is back", async () => {
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync");
    const moved = `${edge.dataDir}.unmounted`;
    await rename(edge.dataDir, moved);
    await mkdir(edge.dataDir);
    try {
      // Sync cycles every 0.5 s write the state; none of it may land in the stand-in folder.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(await readdir(edge.dataDir)).toEqual([]);
      const replaced = await probe(`${edge.url}/readyz`);
      expect(replaced.status).toBe(503);
      expect(replaced.body.reason).toMatch(/data folder does not take writes \(ESTALE: replaced by another folder\)/);
      expect(JSON.stringify(await edge.status())).toContain("DISK_ERROR");
      expect(edge.child.exitCode).toBeNull();
    } finally {
      await rm(edge.dataDir, { recursive: true });
      await rename(moved, edge.dataDir);
    }
    await eventually(async () => (await probe(`${edge.url}/readyz`)).status === 200, 10_000, "ready again");
  });

  it("is live but not ready before its first activation, with the reason", async () => {
    const fresh = await startEdge({ connectionString: unreachableParent() });
    try {
      expect((await probe(`${fresh.url}/healthz`)).status).toBe(200);
      const answer = await eventually(async () => {
        const current = await probe(`${fresh.url}/readyz`);
        // The reason names the link's error once the first activation attempt failed.
        return current.status === 503 && typeof current.body.reason === "string" && current.body.reason.includes("last error") && current;
      }, 20_000, "a not-ready answer with the activation error");
      expect(answer.body).toMatchObject({ status: "not ready", activation: "NotActivated" });
      expect(answer.body.reason).toMatch(/^not activated yet/);
      expect(answer.text).not.toContain(password());
    } finally {
      await fresh.stop();
      await removeEdgeData(fresh.dataDir);
    }
  });

  it("stays ready after a restart with the parent unreachable: it serves the earlier activation's content", async () => {
    await eventually(async () => (await edge.status()).fullSyncDone, 30_000, "first sync");
    await edge.stop();
    edge = await startEdge({ connectionString: unreachableParent(), dataDir: edge.dataDir });
    const answer = await probe(`${edge.url}/readyz`);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: "ready", fullSyncDone: true });
  });
});
