import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OCI_MANIFEST, RegistryClient, errorCode } from "../support/registry-client.js";
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

  it("refuses every request when anonymous access is off and no token server exists", async () => {
    const stack = await startTestStack({ settings: { REGISTRY_ALLOW_ANONYMOUS: "false" } });
    try {
      const registry = new RegistryClient(stack.registryUrl);
      const base = await registry.fetch("/v2/");
      expect(base.status).toBe(401);
      const body = (await base.json()) as { errors: Array<{ code: string; message: string }> };
      expect(body.errors[0]!.code).toBe("UNAUTHORIZED");
      expect(body.errors[0]!.message).toContain("REGISTRY_ALLOW_ANONYMOUS");
      const push = await registry.fetch("/v2/closed/app/blobs/uploads/", { method: "POST" });
      expect(await errorCode(push)).toBe("UNAUTHORIZED");
    } finally {
      await stack.destroy();
    }
  });

  it("refuses to start on a bad setting, naming it", async () => {
    await expect(startTestStack({ settings: { REGISTRY_BLOB_DELIVERY: "carrier-pigeon", REGISTRY_READ_URL_SECONDS: "5" } })).rejects.toThrow(
      /REGISTRY_BLOB_DELIVERY.*REGISTRY_READ_URL_SECONDS|REGISTRY_READ_URL_SECONDS.*REGISTRY_BLOB_DELIVERY/,
    );
  });
});
