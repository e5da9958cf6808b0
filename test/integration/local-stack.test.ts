import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OCI_MANIFEST, RegistryClient } from "../support/registry-client.js";
import { startTestStack } from "../support/stack.js";

describe("the local stack", () => {
  it("keeps repositories, manifests, tags and blobs across a restart", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "registry-restart-"));
    try {
      const first = await startTestStack({ dataDir });
      const before = new RegistryClient(first.registryUrl);
      const image = await before.pushImage("restart/app", "v1");
      const extra = randomBytes(3000);
      const extraDigest = await before.pushBlob("restart/app", extra);
      await first.stop();

      const second = await startTestStack({ dataDir });
      try {
        const after = new RegistryClient(second.registryUrl);
        const manifest = await after.fetch("/v2/restart/app/manifests/v1", { headers: { Accept: OCI_MANIFEST } });
        expect(manifest.status).toBe(200);
        expect(Buffer.from(await manifest.arrayBuffer()).equals(image.manifest)).toBe(true);
        const blob = await after.getBlob("restart/app", extraDigest);
        expect(Buffer.from(await blob.arrayBuffer()).equals(extra)).toBe(true);
        expect(await (await after.fetch("/v2/_catalog")).json()).toEqual({ repositories: ["restart/app"] });
        // And it still takes writes after the restore.
        await after.pushImage("restart/app", "v2");
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("generates its token-signing key and admin key once, and keeps them across restarts", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "registry-keys-"));
    try {
      const { startLocalStack } = await import("../../dist/scripts/local-stack.js");
      const first = await startLocalStack({ dataDir, log: () => {} });
      const jwks = await (await fetch(`${first.registryUrl}/.well-known/jwks.json`)).json();
      expect(first.generatedAdminKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const adminKey = first.generatedAdminKey!;
      await first.stop();
      const second = await startLocalStack({ dataDir, log: () => {} });
      try {
        expect(second.generatedAdminKey).toBeUndefined();
        expect(await (await fetch(`${second.registryUrl}/.well-known/jwks.json`)).json()).toEqual(jwks);
        const list = await fetch(`${second.registryUrl}/management/tokens`, { headers: { Authorization: `Bearer ${adminKey}` } });
        expect(list.status).toBe(200);
        // The key itself is nowhere on disk; only its hash.
        const { readdir, readFile } = await import("node:fs/promises");
        for (const file of await readdir(dataDir)) {
          if (file.endsWith(".hash") || file.endsWith(".pem") || file.endsWith(".json")) {
            expect(await readFile(join(dataDir, file), "utf8")).not.toContain(adminKey);
          }
        }
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("takes over the metadata of a data folder from before the journal (the 15-second snapshot file)", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "registry-legacy-"));
    try {
      const first = await startTestStack({ dataDir });
      const image = await new RegistryClient(first.registryUrl).pushImage("legacy/app", "v1");
      await first.stop();
      // Rewrite what the journal holds as the snapshot file earlier versions saved, and drop the journal.
      const current = JSON.parse(await readFile(join(dataDir, "cosmos", "snapshot.json"), "utf8")) as {
        databases: Array<{ containers: Array<{ data: { id: string; partitionKey: { paths: string[] } }; documents: unknown[] }> }>;
      };
      const legacy = {
        savedAt: new Date().toISOString(),
        containers: current.databases[0]!.containers.map((container) => ({ id: container.data.id, partitionKeyPath: container.data.partitionKey.paths[0], documents: container.documents })),
      };
      await writeFile(join(dataDir, "cosmos-snapshot.json"), JSON.stringify(legacy));
      await rm(join(dataDir, "cosmos"), { recursive: true });

      const second = await startTestStack({ dataDir });
      try {
        const manifest = await new RegistryClient(second.registryUrl).fetch("/v2/legacy/app/manifests/v1", { headers: { Accept: OCI_MANIFEST } });
        expect(Buffer.from(await manifest.arrayBuffer()).equals(image.manifest)).toBe(true);
        // Moved into the journal, and the old file (password hashes in a 0644 file) is gone.
        await expect(readFile(join(dataDir, "cosmos-snapshot.json"))).rejects.toThrow(/ENOENT/);
      } finally {
        await second.stop();
      }
      // And it stays after another restart, now from the journal alone.
      const third = await startTestStack({ dataDir });
      try {
        expect((await new RegistryClient(third.registryUrl).fetch("/v2/legacy/app/manifests/v1", { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
      } finally {
        await third.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("refuses to start on a bad setting, naming it", async () => {
    await expect(startTestStack({ settings: { REGISTRY_BLOB_DELIVERY: "carrier-pigeon", REGISTRY_READ_URL_SECONDS: "5" } })).rejects.toThrow(
      /REGISTRY_BLOB_DELIVERY.*REGISTRY_READ_URL_SECONDS|REGISTRY_READ_URL_SECONDS.*REGISTRY_BLOB_DELIVERY/,
    );
  });
});
