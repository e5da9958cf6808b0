import { describe, expect, it } from "vitest";
import { withCondition } from "../../edge-agent/src/conditions.js";
import { initialState } from "../../edge-agent/src/state.js";
import { renderStatusPage } from "../../edge-agent/src/status-page.js";
import type { EdgeConfiguration } from "../../shared/sync/configuration.js";

const token = (name: string) => ({ name, status: "enabled" as const, passwordVerifiers: [{ name: "password1", hash: "scrypt$secret-hash", expiry: null }], scopeMap: { name: `${name}-scope`, actions: [] } });
const configuration: EdgeConfiguration = {
  name: "factory1", mode: "ReadOnly", parent: null, repositories: ["apps/web"], schedule: "* * * * *", syncWindow: null, messageTtl: "P2D", logging: "Information",
  children: [{ name: "linechild1", mode: "ReadOnly", syncToken: token("linechild1-sync-token") }],
  clientTokens: [token("shopfloor-reader")],
  version: "v1",
};
const state = {
  ...initialState(),
  connectedRegistryName: "factory1",
  activation: { status: "Active" as const },
  configuration,
  children: { linechild1: { instanceId: "abc" } },
  lastSyncTime: "2026-12-01T10:00:00.000Z",
  lastError: 'parent answered <script>alert("x")</script>',
  conditions: withCondition(undefined, "DISK_STORAGE_FULL", "the storage budget of 1.0 GiB is reached", new Date("2026-12-01T09:00:00Z")),
};
const disk = { storedBytes: 1073741824, maxStorageBytes: 1073741824, freeBytes: 5 * 1073741824, minFreeBytes: 0, reservedBytes: 0, full: true, diskErrors: [] };

describe("the edge's status page (GET /console)", () => {
  const html = renderStatusPage(state, disk, new Date("2026-12-01T10:00:05Z"));

  it("shows activation, last sync, disk use and recent problems by code", () => {
    expect(html).toContain("<dt>Activation</dt><dd>Active</dd>");
    expect(html).toContain("<dt>Last sync</dt><dd>2026-12-01T10:00:00.000Z</dd>");
    expect(html).toContain("1024.0 MiB stored of 1024.0 MiB allowed, 5120.0 MiB free on the volume — FULL");
    expect(html).toContain("<td>DISK_STORAGE_FULL</td>");
    expect(html).toContain("<dt>Client tokens</dt><dd>1</dd><dt>Children</dt><dd>1</dd>");
  });

  it("names no token or child and carries no password verifier", () => {
    for (const secret of ["shopfloor-reader", "linechild1", "scrypt$", "secret-hash"]) expect(html).not.toContain(secret);
  });

  it("escapes what it shows, so an error message cannot add markup", () => {
    expect(html).not.toContain("<script");
    expect(html).toContain("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;");
  });

  it("names client tokens and children to a signed-in client token", () => {
    const signedIn = renderStatusPage(state, disk, new Date("2026-12-01T10:00:05Z"), { signedIn: "shopfloor-reader" });
    expect(signedIn).toContain("<dt>Client tokens</dt><dd>shopfloor-reader</dd><dt>Children</dt><dd>linechild1</dd>");
    expect(signedIn).not.toContain("secret-hash");
  });
});
