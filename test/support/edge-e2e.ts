/**
 * What the edge agent's end-to-end tests (edge-agent.test.ts, edge-resync.test.ts) do against a
 * registry, cloud or edge, as a client with a token's Basic credentials: read a tag's digest or
 * the tag list, push a random image, make client tokens, and a parent link the test can cut.
 */
import { randomBytes } from "node:crypto";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import { expect } from "vitest";
import type { ManagementClient } from "./management-client.js";
import { basicAuthorization, OCI_INDEX, OCI_MANIFEST, sha256, type AuthorizedClient } from "./registry-client.js";
import type { Credentials } from "./skopeo.js";

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
/** Every manifest type a client pulling an image accepts. */
export const ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ");

export const basic = (creds: Credentials): string => basicAuthorization(creds.username, creds.password);

/** A GET (or other request) on a registry with a client token's Basic credentials. */
export function registryFetch(baseUrl: string, path: string, creds: Credentials, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("Authorization", basic(creds));
  return fetch(`${baseUrl}${path}`, { ...init, headers });
}

/** The manifest at `reference` as the registry serves it, or the status when it does not. */
export async function getManifest(baseUrl: string, creds: Credentials, repository: string, reference: string): Promise<{ status: number; bytes: Buffer; mediaType: string; digest: string }> {
  const response = await registryFetch(baseUrl, `/v2/${repository}/manifests/${reference}`, creds, { headers: { Accept: ACCEPT } });
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, bytes, mediaType: response.headers.get("content-type") ?? "", digest: sha256(bytes) };
}

/** The digest the registry serves for a tag, or undefined while it serves none (404). */
export async function digestAt(baseUrl: string, creds: Credentials, repository: string, tag: string): Promise<string | undefined> {
  const manifest = await getManifest(baseUrl, creds, repository, tag);
  if (manifest.status === 404) return undefined;
  if (manifest.status !== 200) throw new Error(`GET ${repository}:${tag} answered ${manifest.status}: ${manifest.bytes.toString("utf8").slice(0, 300)}`);
  return manifest.digest;
}

/** The repository's tags, sorted; none for an unknown repository. */
export async function tagsAt(baseUrl: string, creds: Credentials, repository: string): Promise<string[]> {
  const response = await registryFetch(baseUrl, `/v2/${repository}/tags/list`, creds);
  if (response.status === 404) return [];
  if (response.status !== 200) throw new Error(`tags/list of ${repository} answered ${response.status}: ${await response.text()}`);
  return (((await response.json()) as { tags?: string[] | null }).tags ?? []).sort();
}

/** Random bytes pushed as one OCI image (config + layers) under `tag`: the manifest, its digest, and its blobs (config first). */
export async function pushRandomImage(
  client: AuthorizedClient,
  repository: string,
  tag: string,
  layerSizes = [4096],
): Promise<{ digest: string; blobs: string[]; bytes: Map<string, Buffer>; manifest: Buffer }> {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") }));
  const bytes = new Map<string, Buffer>([[await client.pushBlob(repository, config), config]]);
  const layers: Array<{ digest: string; size: number }> = [];
  for (const size of layerSizes) {
    const layer = randomBytes(size);
    const digest = await client.pushBlob(repository, layer);
    bytes.set(digest, layer);
    layers.push({ digest, size });
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
      layers: layers.map((layer) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layer })),
    }),
  );
  const response = await client.putManifest(repository, tag, manifest);
  if (response.status !== 201) throw new Error(`manifest push of ${repository}:${tag} answered ${response.status}: ${await response.text()}`);
  return { digest: sha256(manifest), blobs: [...bytes.keys()], bytes, manifest };
}

export async function expectStatus(call: Promise<{ status: number; body: any }>, status: number): Promise<any> {
  const answer = await call;
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  return answer.body;
}

/** A scope map with `actions` and a token on it with a fresh password1. */
export async function clientToken(management: ManagementClient, name: string, actions: string[]): Promise<Credentials> {
  await expectStatus(management.call("POST", "scopeMaps", { name: `${name}-scope`, actions }), 201);
  return { username: name, password: await management.tokenWithPassword(name, { scopeMap: `${name}-scope` }) };
}

export const readActions = (...repositories: string[]): string[] => repositories.flatMap((r) => [`repositories/${r}/content/read`, `repositories/${r}/metadata/read`]);
export const writeActions = (repository: string): string[] => [...readActions(repository), `repositories/${repository}/content/write`, `repositories/${repository}/metadata/write`];

/** A TCP relay between an agent and its parent that the test can cut and restore (the link goes down). */
export interface ParentLink {
  /** host:port of the relay, to give the agent as its parent. */
  host: string;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  restore(): void;
  /** Connections cut because they carried more than `cutAfterBytes` towards the parent. */
  readonly cuts: number;
  close(): Promise<void>;
}

/**
 * Opens a relay to `target` (host:port); `opened` collects it for the test's clean-up.
 * `cutAfterBytes`: a fault link that resets every connection once it has carried that many
 * bytes towards the parent (a front end's request limit, a flaky uplink).
 */
export async function parentLink(target: string, opened: ParentLink[], options: { cutAfterBytes?: number } = {}): Promise<ParentLink> {
  const [targetHost, targetPort] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
  let up = true;
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    if (options.cutAfterBytes !== undefined) {
      let carried = 0;
      client.on("data", (chunk: Buffer) => {
        carried += chunk.length;
        if (carried > options.cutAfterBytes! && !client.destroyed) {
          cuts++;
          // A reset, as a front end or a dropped link gives it.
          client.resetAndDestroy();
          upstream.resetAndDestroy();
        }
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const link: ParentLink = {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut: () => {
      up = false;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    restore: () => {
      up = true;
    },
    get cuts() {
      return cuts;
    },
    close: async () => {
      link.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  opened.push(link);
  return link;
}
