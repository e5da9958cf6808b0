/**
 * One agent per data folder (issue 12, item 8), with real agent processes: a second agent on
 * the same --data is refused with a message naming the first; after the first is SIGKILLed
 * (its lock file stays behind), a restart takes the stale lock over; a clean stop removes it.
 * The parent is an address nobody listens on: the lock is taken before the agent first
 * contacts its parent, and the agents serve meanwhile. Locks left by other hosts and reused
 * pids, which one machine cannot produce with real agents, are checked on the lock module.
 */
import { execFile, spawn } from "node:child_process";
import { link, mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DataFolderLockedError, LOCK_FILE, lockDataFolder } from "../../dist/edge-agent/src/data-folder-lock.js";
import { startEdge, type EdgeProcess } from "../support/edge.js";

const execFileAsync = promisify(execFile);
const CLI = join(import.meta.dirname, "../../dist/edge-agent/src/cli.js");
const CONNECTION = "ConnectedRegistryName=lockedge1;SyncTokenName=lockedge1-sync-token;SyncTokenPassword=unused;ParentGatewayEndpoint=127.0.0.1:9;ParentEndpointProtocol=http";

describe("the data folder lock", () => {
  let dataDir: string;
  const edges: EdgeProcess[] = [];
  const takenOver: string[] = [];
  const events = { takenOver: (_holder: unknown, reason: string) => void takenOver.push(reason) };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "edge-lock-"));
  });
  afterEach(async () => {
    for (const edge of edges.splice(0)) await edge.kill();
    await rm(join(dataDir, LOCK_FILE), { force: true });
    takenOver.length = 0;
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("refuses a second agent on the same folder, naming the first; a restart after SIGKILL takes the stale lock over", async () => {
    const first = await startEdge({ connectionString: CONNECTION, dataDir });
    edges.push(first);
    const instanceId = (await first.status()).instanceId as string;

    // The second agent, another port, same folder: refused at once, exit code 1, naming the holder.
    const second = await execFileAsync(process.execPath, [CLI, "start", "--http", "--host", "127.0.0.1", "--port", "0", "--data", dataDir], {
      env: { ...process.env, CONNECTED_REGISTRY_CONNECTION_STRING: CONNECTION },
      timeout: 20_000,
    }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
    );
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`the data folder ${dataDir} is in use by another connected-registry agent (pid ${first.child.pid} on host ${hostname()}, started `);
    // The first agent's lock is untouched, and it still serves as the same instance.
    expect(JSON.parse(await readFile(join(dataDir, LOCK_FILE), "utf8"))).toMatchObject({ pid: first.child.pid, host: hostname() });
    expect(await first.status()).toMatchObject({ name: "lockedge1", instanceId });

    // A crash leaves the lock file behind; the restart is not blocked by it.
    await first.kill();
    expect(JSON.parse(await readFile(join(dataDir, LOCK_FILE), "utf8")).pid).toBe(first.child.pid);
    const restarted = await startEdge({ connectionString: CONNECTION, dataDir });
    edges.push(restarted);
    expect(restarted.logs).toContainEqual(expect.objectContaining({ message: "took over the data folder's lock from an agent that is gone", reason: `process ${first.child.pid} is no longer running` }));
    expect(JSON.parse(await readFile(join(dataDir, LOCK_FILE), "utf8")).pid).toBe(restarted.child.pid);

    // A clean stop gives the folder back.
    await restarted.stop();
    await expect(stat(join(dataDir, LOCK_FILE))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses a second agent on the same volume reached by another path (a bind mount elsewhere): that lock is no copy", async () => {
    const first = await startEdge({ connectionString: CONNECTION, dataDir });
    edges.push(first);
    // The same lock file under another folder's name, as a second mount of one volume shows it (a hard link stands in).
    const elsewhere = await mkdtemp(join(tmpdir(), "edge-lock-mount-"));
    try {
      await link(join(dataDir, LOCK_FILE), join(elsewhere, LOCK_FILE));
      const refusal = await lockDataFolder(elsewhere, events).then(() => undefined, (error: unknown) => error);
      expect(refusal).toBeInstanceOf(DataFolderLockedError);
      expect(String(refusal)).toContain(`pid ${first.child.pid} on host ${hostname()}`);
      expect(takenOver).toEqual([]);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it("refuses a fresh lock from another host and takes over one that host stopped refreshing", async () => {
    const lockFile = join(dataDir, LOCK_FILE);
    await writeFile(lockFile, JSON.stringify({ pid: 4242, host: "other-node", startedAt: "2026-01-01T00:00:00.000Z" }));
    const refusal = await lockDataFolder(dataDir, events).then(() => undefined, (error: unknown) => error);
    expect(refusal).toBeInstanceOf(DataFolderLockedError);
    expect(String(refusal)).toContain("pid 4242 on host other-node");

    const twoMinutesAgo = new Date(Date.now() - 120_000);
    await utimes(lockFile, twoMinutesAgo, twoMinutesAgo);
    const lock = await lockDataFolder(dataDir, events);
    expect(takenOver).toEqual([expect.stringMatching(/^host other-node has not refreshed it for \d+ s$/)]);
    expect(JSON.parse(await readFile(lockFile, "utf8"))).toMatchObject({ pid: process.pid, host: hostname() });
    await lock.release();
  });

  it("ignores a lock copied with the folder from another folder (a backup of a running agent's folder)", async () => {
    const lockFile = join(dataDir, LOCK_FILE);
    // A live process on this host holds it, but for the folder it was copied from.
    await writeFile(lockFile, JSON.stringify({ pid: process.ppid, host: hostname(), startedAt: new Date().toISOString(), dataDir: "/var/lib/connected-registry-original" }));
    const lock = await lockDataFolder(dataDir, events);
    expect(takenOver).toEqual(["it was taken for /var/lib/connected-registry-original and copied here with the folder"]);
    await lock.release();
  });

  it("tells a live holder from a pid that a later process reuses", async () => {
    const lockFile = join(dataDir, LOCK_FILE);
    const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      // The lock was taken (by this pid) after the process started: it holds the folder.
      await writeFile(lockFile, JSON.stringify({ pid: sleeper.pid, host: hostname(), startedAt: new Date(Date.now() + 1000).toISOString() }));
      await expect(lockDataFolder(dataDir, events)).rejects.toBeInstanceOf(DataFolderLockedError);
      // The lock is an hour older than the process now at that pid: the pid was reused, the holder is gone.
      await writeFile(lockFile, JSON.stringify({ pid: sleeper.pid, host: hostname(), startedAt: new Date(Date.now() - 3_600_000).toISOString() }));
      const lock = await lockDataFolder(dataDir, events);
      expect(takenOver).toEqual([`pid ${sleeper.pid} now belongs to a process started after the lock was taken`]);
      await lock.release();
    } finally {
      sleeper.kill("SIGKILL");
    }
  });
});
