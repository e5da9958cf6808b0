/**
 * Pull-through against the sync, with the timing controlled: the edge's real stores and engine,
 * the real pull-through handler and the sync's real Applier over one registry, and a small
 * scripted parent whose answers the test changes and whose blob GETs it can hold. (The real
 * parent cannot be made to pause a download at a chosen moment.)
 *
 * The sync is the source of truth for tags: a pull-through may only add a tag the edge does not
 * have, as the parent has it at that moment. These cases failed before that rule held: the
 * deferred store wrote the manifest fetched for the client (kept by tag) after the sync had
 * moved or deleted the tag, and the edge kept the stale tag for good.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Applier } from "../../dist/edge-agent/src/sync/applier.js";
import { pullThroughEdge, type PullThroughEdge } from "../support/edge-registry.js";
import { OCI_MANIFEST, sha256 } from "../support/registry-client.js";

interface Image {
  digest: string;
  manifest: Buffer;
  blobs: Map<string, Buffer>;
  layer: string;
}

function image(): Image {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", nonce: randomBytes(8).toString("hex") }));
  const layer = randomBytes(4096);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(layer), size: layer.length }],
    }),
  );
  return { digest: sha256(manifest), manifest, blobs: new Map([[sha256(config), config], [sha256(layer), layer]]), layer: sha256(layer) };
}

/** A parent registry the test scripts: tags it moves and deletes at will, blob GETs it can hold. */
class ScriptedParent {
  readonly tags = new Map<string, Image>(); // "repository tag"
  readonly images = new Map<string, Image>(); // "repository digest"
  private readonly held = new Map<string, { arrived: () => void; release: Promise<void> }>();
  private server!: Server;
  endpoint = "";

  add(repository: string, tag: string, img: Image): void {
    this.images.set(`${repository} ${img.digest}`, img);
    this.tags.set(`${repository} ${tag}`, img);
  }

  /** The next GET of `digest` waits until `release` is called; `arrived` resolves when it has come in. */
  hold(digest: string): { arrived: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    this.held.set(digest, { arrived, release: new Promise<void>((resolve) => (release = resolve)) });
    return { arrived: arrival, release };
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.answer(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.endpoint = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Every request the parent got: method, path and whether it asked for stored content only. */
  readonly requests: Array<{ method: string; url: string; storedOnly: boolean }> = [];

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests.push({ method: req.method ?? "", url: req.url ?? "", storedOnly: req.headers["connected-registry-stored-only"] === "1" });
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(req.url ?? "");
    const unknown = (code: string): void => void res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code, message: "unknown" }] }));
    if (!match) return unknown("NAME_UNKNOWN");
    const [, repository, kind, reference] = match;
    if (kind === "manifests") {
      const img = reference!.startsWith("sha256:") ? this.images.get(`${repository} ${reference}`) : this.tags.get(`${repository} ${reference}`);
      if (!img) return unknown("MANIFEST_UNKNOWN");
      res.writeHead(200, { "Content-Type": OCI_MANIFEST, "Content-Length": img.manifest.length, "Docker-Content-Digest": img.digest });
      return void res.end(req.method === "HEAD" ? undefined : img.manifest);
    }
    const bytes = [...this.images.values()].find((img) => img.blobs.has(reference!))?.blobs.get(reference!);
    if (!bytes) return unknown("BLOB_UNKNOWN");
    const held = this.held.get(reference!);
    if (held) {
      this.held.delete(reference!);
      held.arrived();
      await held.release;
    }
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": bytes.length, "Docker-Content-Digest": reference! });
    res.end(req.method === "HEAD" ? undefined : bytes);
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("pull-through never undoes what the sync did to a tag", () => {
  const parent = new ScriptedParent();
  let at: PullThroughEdge;
  let registry: PullThroughEdge["registry"];
  let edge: PullThroughEdge["edge"];
  let sync: InstanceType<typeof Applier>;
  const repositories = ["race/moved", "race/deleted", "race/stale", "race/early", "race/gone", "race/chain"];

  beforeAll(async () => {
    await parent.start();
    at = await pullThroughEdge("pt-race", parent.endpoint, () => repositories);
    ({ registry, edge } = at);
    // The sync's own fetcher and applier, over the same registry as the pull-through (as agent.ts wires them).
    sync = new Applier(registry, at.syncFetcher());
  });

  afterAll(async () => {
    await parent.close();
    await at?.close();
  });

  /** A client's GET of the manifest at the edge (its blobs not asked for: the deferred store downloads them). */
  const pull = async (repository: string, tag: string): Promise<{ status: number; digest: string | null }> => {
    const response = await edge({ method: "GET", url: new URL(`http://edge/v2/${repository}/manifests/${tag}`), headers: new Headers({ Accept: OCI_MANIFEST }), body: null });
    return { status: response.status, digest: new Headers(response.headers as Record<string, string>).get("docker-content-digest") };
  };
  const tagAtEdge = async (repository: string, tag: string): Promise<string | undefined> => (await registry.metadata.getTaggedManifest(repository, tag))?.digest;
  /** Until the pull-through's deferred store (about a second after the miss) has run. */
  const stores = async (count: number): Promise<void> => {
    const deadline = Date.now() + 15_000;
    while ((edge as unknown as { counts: { manifests: number; failed: number } }).counts.manifests < count && Date.now() < deadline) await delay(50);
  };

  it("a tag the sync moves while a pull-through is storing it ends where the parent has it", async () => {
    const repository = "race/moved";
    const [a, b] = [image(), image()];
    parent.add(repository, "v1", a);
    const gate = parent.hold(a.layer);
    expect(await pull(repository, "v1")).toEqual({ status: 200, digest: a.digest });
    // The deferred store is downloading A's layer: the parent moves v1 to B and the sync applies the move.
    await gate.arrived;
    parent.add(repository, "v1", b);
    const syncing = sync.applyTag(repository, "v1", b.digest);
    await Promise.race([syncing, delay(1500)]);
    gate.release();
    await syncing;
    await stores(1);
    await delay(200);
    expect(await tagAtEdge(repository, "v1")).toBe(b.digest);
  });

  it("a tag the sync deletes while a pull-through is storing it stays deleted", async () => {
    const repository = "race/deleted";
    const a = image();
    parent.add(repository, "v1", a);
    const gate = parent.hold(a.layer);
    expect(await pull(repository, "v1")).toEqual({ status: 200, digest: a.digest });
    await gate.arrived;
    parent.tags.delete(`${repository} v1`);
    const syncing = sync.deleteTag(repository, "v1");
    await Promise.race([syncing, delay(1500)]);
    gate.release();
    await syncing;
    await stores(2);
    await delay(200);
    expect(await tagAtEdge(repository, "v1")).toBeUndefined();
  });

  it("a tag the parent moves before the deferred store stores the parent's new answer, not the one served", async () => {
    const repository = "race/early";
    const [a, b] = [image(), image()];
    parent.add(repository, "v1", a);
    expect(await pull(repository, "v1")).toEqual({ status: 200, digest: a.digest });
    parent.add(repository, "v1", b);
    await stores(3);
    expect(await tagAtEdge(repository, "v1")).toBe(b.digest);
  });

  it("a tag the parent deletes before its served answer is stored is unknown to the next client", async () => {
    // As a child edge checks a tag at this edge before keeping it: the earlier answer, kept for the
    // deferred store, must not stand in for the parent's answer now (the child kept the deleted tag for good).
    const repository = "race/gone";
    const a = image();
    parent.add(repository, "v1", a);
    expect(await pull(repository, "v1")).toEqual({ status: 200, digest: a.digest });
    parent.tags.delete(`${repository} v1`);
    parent.images.delete(`${repository} ${a.digest}`);
    // Well within the second before the deferred store runs.
    expect((await pull(repository, "v1")).status).toBe(404);
    await delay(2500);
    expect(await tagAtEdge(repository, "v1")).toBeUndefined();
  });

  it("a tag pulled through, synced, then deleted by the sync is not brought back from an earlier answer", async () => {
    const repository = "race/stale";
    const a = image();
    parent.add(repository, "v1", a);
    expect(await pull(repository, "v1")).toEqual({ status: 200, digest: a.digest });
    // The sync brings v1 before the deferred store runs; that store then finds the tag here and writes nothing.
    expect(await sync.applyTag(repository, "v1", a.digest)).toBe(true);
    await delay(2500);
    // The cloud deletes v1, the sync follows; a client then asks for v1: the parent's answer now is "unknown".
    parent.tags.delete(`${repository} v1`);
    await sync.deleteTag(repository, "v1");
    expect((await pull(repository, "v1")).status).toBe(404);
    await delay(1500);
    expect(await tagAtEdge(repository, "v1")).toBeUndefined();
  });
  it("confirms a tag with a HEAD that asks stored content only, and answers such a HEAD without pulling through", async () => {
    // In a chain, the child's confirming HEAD reaches a parent edge: answered from what that edge
    // stores (its feed reports deletions of those), never from what it would fetch from its own parent.
    const repository = "race/chain";
    const a = image();
    parent.add(repository, "v1", a);
    const before = parent.requests.length;
    const storedOnly = await edge({ method: "HEAD", url: new URL(`http://edge/v2/${repository}/manifests/v1`), headers: new Headers({ Accept: OCI_MANIFEST, "Connected-Registry-Stored-Only": "1" }), body: null });
    expect(storedOnly.status).toBe(404);
    expect(parent.requests.length).toBe(before);
    expect(await pull(repository, "v1")).toEqual({ status: 200, digest: a.digest });
    await delay(2500);
    expect(await tagAtEdge(repository, "v1")).toBe(a.digest);
    const confirming = parent.requests.slice(before).filter((r) => r.method === "HEAD" && r.url.endsWith(`/${repository}/manifests/v1`));
    expect(confirming.length).toBeGreaterThan(0);
    expect(confirming.every((r) => r.storedOnly)).toBe(true);
  });
});
