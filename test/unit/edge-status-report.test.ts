import { describe, expect, it } from "vitest";
import { recordStatusReport } from "../../shared/sync/status-report.js";
import type { ConnectedRegistryRecord } from "../../shared/store/connected-registry-store.js";
import { withCertificateExpiry } from "../../edge-agent/src/certificate-expiry.js";
import { correlationIdOf } from "../../edge-agent/src/sync/status-reporter.js";
import { RunProgress } from "../../edge-agent/src/sync/run-progress.js";

const record: ConnectedRegistryRecord = {
  name: "factory1",
  mode: "ReadOnly",
  repositories: ["hello-world"],
  syncToken: "factory1-sync-token",
  syncTokenCreated: true,
  clientTokens: [],
  schedule: "* * * * *",
  messageTtl: "P2D",
  logging: "Information",
  notifications: [],
  connectionState: "Online",
  activation: { status: "Active", instanceId: "instance-1" },
  statusDetails: [],
  createdAt: "2026-12-01T00:00:00.000Z",
  updatedAt: "2026-12-01T00:00:00.000Z",
};
const now = "2026-12-01T12:00:00.000Z";
const progress = { phase: "full-sync" as const, objectsDone: 1, objectsTotal: 4, bytesDone: 10, bytesTotal: 100 };

describe("what the cloud keeps of an edge's status report", () => {
  it("shows a running sync as Syncing with its progress, and drops the progress once the edge is Online", () => {
    const syncing = recordStatusReport(record, { instanceId: "instance-1", state: "Syncing", progress, trigger: "initial", details: [] }, now);
    expect(syncing).toMatchObject({ connectionState: "Syncing", syncProgress: progress, lastSyncTrigger: "initial", lastActivityTime: now, statusDetails: [] });
    const online = recordStatusReport(syncing, { instanceId: "instance-1", state: "Online", usage: { bytes: 5, repositories: 1, freeBytes: 9 }, lag: { changes: 0, oldestChangeAgeSeconds: null }, details: [] }, now);
    expect(online.syncProgress).toBeUndefined();
    expect(online).toMatchObject({ connectionState: "Online", usage: { bytes: 5, repositories: 1, freeBytes: 9 }, lag: { changes: 0 }, lastSyncTrigger: "initial" });
  });

  it("shows each condition by code with its correlation id, Unhealthy, and clears them with an empty list", () => {
    const details = [{ code: "DISK_STORAGE_FULL" as const, description: "budget reached", since: "2026-12-01T11:00:00.000Z", correlationId: "abc123" }];
    const unhealthy = recordStatusReport(record, { instanceId: "instance-1", state: "Syncing", progress, details, failures: [{ item: "a:b", error: "gone" }] }, now);
    expect(unhealthy.connectionState).toBe("Unhealthy");
    expect(unhealthy.statusDetails).toEqual([
      { type: "edge", code: "DISK_STORAGE_FULL", description: "budget reached", timestamp: "2026-12-01T11:00:00.000Z", correlationId: "abc123" },
      { type: "sync", code: "ObjectSkipped", description: "a:b could not be synced: gone", timestamp: now },
    ]);
    expect(recordStatusReport(unhealthy, { instanceId: "instance-1", state: "Online", details: [] }, now)).toMatchObject({ connectionState: "Online", statusDetails: [] });
  });

  it("judges an agent that sends no details by its lastError, as before", () => {
    expect(recordStatusReport(record, { instanceId: "instance-1", state: "Online", lastError: "boom" }, now)).toMatchObject({
      connectionState: "Unhealthy",
      statusDetails: [{ type: "sync", code: "SyncFailed", description: "boom", timestamp: now }],
    });
  });
});

describe("edge conditions and progress", () => {
  it("sets CERTIFICATE_EXPIRING within 14 days of expiry, keeps its start while it lasts, and clears it after a renewal", () => {
    const start = new Date("2026-12-01T00:00:00Z");
    const soon = withCertificateExpiry([], new Date("2026-12-06T00:00:00Z"), start);
    expect(soon).toEqual([{ code: "CERTIFICATE_EXPIRING", description: expect.stringContaining("in 5 day(s)"), since: start.toISOString() }]);
    const dayLater = withCertificateExpiry(soon, new Date("2026-12-06T00:00:00Z"), new Date("2026-12-02T00:00:00Z"));
    expect(dayLater[0]).toMatchObject({ since: start.toISOString(), description: expect.stringContaining("in 4 day(s)") });
    expect(correlationIdOf("i", dayLater[0]!)).toBe(correlationIdOf("i", soon[0]!));
    expect(withCertificateExpiry(dayLater, new Date("2027-03-01T00:00:00Z"), new Date("2026-12-02T00:00:00Z"))).toEqual([]);
  });

  it("gives a condition that comes back later a new correlation id", () => {
    expect(correlationIdOf("i", { code: "SYNC_FAILED", since: "2026-12-01T00:00:00.000Z" })).not.toBe(correlationIdOf("i", { code: "SYNC_FAILED", since: "2026-12-01T00:05:00.000Z" }));
  });

  it("counts a run's objects and bytes, totals growing as work is listed, and starts again with the next run", () => {
    const run = new RunProgress();
    run.objectsListed(3);
    run.downloadPlanned(100);
    run.downloadPlanned(undefined);
    run.bytesArrived(40);
    run.objectDone();
    expect(run.report("full-sync")).toEqual({ phase: "full-sync", objectsDone: 1, objectsTotal: 3, bytesDone: 40, bytesTotal: 100 });
    run.bytesArrived(90);
    expect(run.report("full-sync").bytesTotal).toBe(130);
    run.begin();
    expect(run.report("feed")).toEqual({ phase: "feed", objectsDone: 0, objectsTotal: 0, bytesDone: 0, bytesTotal: 0 });
  });
});
