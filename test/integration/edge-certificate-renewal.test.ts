/**
 * Certificate renewal at the edge (docs/edge-agent.md, "TLS certificate renewal"): a real edge
 * agent serving HTTPS picks up new files behind --tls-cert/--tls-key without a restart, as
 * cert-manager and ACME clients leave them (an atomic rename of each file; the `..data` symlink
 * swap of a Kubernetes Secret volume); a keep-alive connection opened before the swap goes on
 * working; a bad new pair is refused with a log line and the previous certificate stays.
 * Certificates come from openssl; what is served is read from new TLS handshakes.
 */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, removeEdgeData, startEdge, type EdgeProcess } from "../support/edge.js";

const execFileAsync = promisify(execFile);
// The parent is never reached (nothing listens on port 9): the agent serves anyway, and that is all this test needs.
const CONNECTION = "ConnectedRegistryName=renewal1;SyncTokenName=renewal1-sync-token;SyncTokenPassword=not-a-secret;ParentGatewayEndpoint=127.0.0.1:9;ParentEndpointProtocol=http";

interface Pair {
  cert: Buffer;
  key: Buffer;
  fingerprint: string;
}

/** A self-signed certificate for 127.0.0.1 with its own key (openssl). */
async function makePair(dir: string, name: string): Promise<Pair> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await execFileAsync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-keyout", key, "-out", cert, "-subj", `/CN=127.0.0.1/O=${name}`, "-addext", "subjectAltName=IP:127.0.0.1",
  ]);
  const certPem = await readFile(cert);
  return { cert: certPem, key: await readFile(key), fingerprint: new X509Certificate(certPem).fingerprint256 };
}

/** The fingerprint of the certificate a new TLS handshake with the agent gets. */
async function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.on("error", reject);
  });
}

/** Replaces a file the way renewal tools do: write a temporary file next to it, rename it over. */
async function atomicWrite(path: string, content: Buffer): Promise<void> {
  await writeFile(`${path}.tmp`, content);
  await rename(`${path}.tmp`, path);
}

describe("edge agent: TLS certificate renewal without a restart", () => {
  let dir: string;
  let live: string;
  let first: Pair;
  let second: Pair;
  let third: Pair;
  let edge: EdgeProcess;
  let port: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "edge-renewal-"));
    [first, second, third] = await Promise.all([makePair(dir, "first"), makePair(dir, "second"), makePair(dir, "third")]);
    live = join(dir, "live");
    await mkdir(live);
    await writeFile(join(live, "tls.crt"), first.cert);
    await writeFile(join(live, "tls.key"), first.key);
    edge = await startEdge({ connectionString: CONNECTION, tls: { cert: join(live, "tls.crt"), key: join(live, "tls.key") } });
    port = Number(new URL(edge.url).port);
  }, 60_000);

  afterAll(async () => {
    await edge?.stop();
    if (edge) await removeEdgeData(edge.dataDir);
    await rm(dir, { recursive: true, force: true });
  });

  const renewals = () => edge.logs.filter((line) => line.message === "serving a renewed TLS certificate");
  const refusals = () => edge.logs.filter((line) => line.message === "refused the new TLS certificate and key: still serving the previous ones");

  it("serves a renewed pair to new connections, while a keep-alive connection from before goes on", async () => {
    expect(await servedFingerprint(port)).toBe(first.fingerprint);
    expect(first.fingerprint).not.toBe(second.fingerprint);

    // One keep-alive connection, opened before the renewal.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    const get = () =>
      new Promise<{ status: number; socket: TLSSocket; reused: boolean }>((resolve, reject) => {
        const request = https.get(`${edge.url}/status`, { agent }, (response) => {
          // Taken now: once the body is read the socket goes back to the agent's pool.
          const socket = response.socket as TLSSocket;
          response.resume();
          response.on("end", () => resolve({ status: response.statusCode ?? 0, socket, reused: request.reusedSocket }));
        });
        request.on("error", reject);
      });
    try {
      const before = await get();
      expect(before.status).toBe(200);
      expect(before.socket.getPeerCertificate().fingerprint256).toBe(first.fingerprint);

      await atomicWrite(join(live, "tls.crt"), second.cert);
      await atomicWrite(join(live, "tls.key"), second.key);
      // (A check between the two renames may refuse the half-renewed pair first: that is allowed.)
      await eventually(async () => renewals().length === 1, 10_000, "the renewal noticed");
      expect(renewals()[0]!.fingerprint256).toBe(second.fingerprint);
      expect(await servedFingerprint(port)).toBe(second.fingerprint);

      // The same socket, not a new one, still answers: the swap dropped no connection.
      const after = await get();
      expect(after.status).toBe(200);
      expect(after.reused).toBe(true);
      expect(after.socket).toBe(before.socket);
      expect(after.socket.getPeerCertificate().fingerprint256).toBe(first.fingerprint);
    } finally {
      agent.destroy();
    }
  });

  it("refuses a key that does not match the certificate, says so, and keeps serving the previous pair", async () => {
    const before = refusals().length;
    await atomicWrite(join(live, "tls.crt"), third.cert); // the key stays the second one's
    await eventually(async () => refusals().length === before + 1, 10_000, "the mismatched pair refused");
    expect(String(refusals().at(-1)!.error)).toMatch(/key values mismatch/i);
    expect(await servedFingerprint(port)).toBe(second.fingerprint);
  });

  it("refuses an unparsable certificate, and keeps serving the previous pair", async () => {
    const before = refusals().length;
    await atomicWrite(join(live, "tls.crt"), Buffer.from("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"));
    await eventually(async () => refusals().length === before + 1, 10_000, "the unparsable certificate refused");
    expect(await servedFingerprint(port)).toBe(second.fingerprint);
    // The agent still serves requests.
    const status = JSON.parse(await new Promise<string>((resolve, reject) => {
      https.get(`${edge.url}/status`, { rejectUnauthorized: false }, (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
        response.on("end", () => resolve(text));
      }).on("error", reject);
    })) as { connectedRegistryName?: string };
    expect(status).toBeTypeOf("object");
  });

  it("serves the pair once both files are good again (the key completing a renewal written in two steps)", async () => {
    await atomicWrite(join(live, "tls.crt"), third.cert);
    await atomicWrite(join(live, "tls.key"), third.key);
    await eventually(async () => renewals().length === 2, 10_000, "the third pair served");
    expect(await servedFingerprint(port)).toBe(third.fingerprint);
  });
});

describe("edge agent: TLS certificate renewal from a Kubernetes Secret volume (a `..data` symlink swap)", () => {
  let dir: string;
  let edge: EdgeProcess;
  let port: number;

  afterAll(async () => {
    await edge?.stop();
    if (edge) await removeEdgeData(edge.dataDir);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("serves the new pair after the kubelet swaps the ..data symlink", async () => {
    dir = await mkdtemp(join(tmpdir(), "edge-renewal-k8s-"));
    const [first, second] = await Promise.all([makePair(dir, "first"), makePair(dir, "second")]);
    // The kubelet's layout: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>/ holding the files.
    const volume = join(dir, "volume");
    const version = async (name: string, pair: Pair) => {
      await mkdir(join(volume, name), { recursive: true });
      await writeFile(join(volume, name, "tls.crt"), pair.cert);
      await writeFile(join(volume, name, "tls.key"), pair.key);
    };
    await version("..2026_01_01_00_00_00.1", first);
    await symlink("..2026_01_01_00_00_00.1", join(volume, "..data"));
    await symlink("..data/tls.crt", join(volume, "tls.crt"));
    await symlink("..data/tls.key", join(volume, "tls.key"));
    edge = await startEdge({
      connectionString: CONNECTION.replaceAll("renewal1", "renewal2"),
      tls: { cert: join(volume, "tls.crt"), key: join(volume, "tls.key") },
    });
    port = Number(new URL(edge.url).port);
    expect(await servedFingerprint(port)).toBe(first.fingerprint);

    // Renewal: a new version folder, a new symlink, renamed over ..data in one step.
    await version("..2026_02_01_00_00_00.2", second);
    await symlink("..2026_02_01_00_00_00.2", join(volume, "..data_tmp"));
    await rename(join(volume, "..data_tmp"), join(volume, "..data"));
    await eventually(async () => edge.logs.some((line) => line.message === "serving a renewed TLS certificate"), 10_000, "the renewal noticed");
    expect(await servedFingerprint(port)).toBe(second.fingerprint);
  }, 60_000);
});

describe("edge agent: TLS certificate renewal seen only by the periodic check", () => {
  let dir: string;
  let edge: EdgeProcess;

  afterAll(async () => {
    await edge?.stop();
    if (edge) await removeEdgeData(edge.dataDir);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("serves a pair renewed behind a symlink into another folder, which no watched folder sees change", async () => {
    dir = await mkdtemp(join(tmpdir(), "edge-renewal-link-"));
    const [first, second] = await Promise.all([makePair(dir, "first"), makePair(dir, "second")]);
    // certbot's layout, linked from the agent's own folder: /etc/edge/tls.crt -> .../live/site/fullchain.pem.
    const liveSite = join(dir, "letsencrypt", "live", "site");
    const agentFolder = join(dir, "edge");
    await mkdir(liveSite, { recursive: true });
    await mkdir(agentFolder);
    await writeFile(join(liveSite, "fullchain.pem"), first.cert);
    await writeFile(join(liveSite, "privkey.pem"), first.key);
    await symlink(join(liveSite, "fullchain.pem"), join(agentFolder, "tls.crt"));
    await symlink(join(liveSite, "privkey.pem"), join(agentFolder, "tls.key"));
    edge = await startEdge({
      connectionString: CONNECTION.replaceAll("renewal1", "renewal3"),
      tls: { cert: join(agentFolder, "tls.crt"), key: join(agentFolder, "tls.key") },
      args: ["--tls-check-interval", "1"],
    });
    const port = Number(new URL(edge.url).port);
    expect(await servedFingerprint(port)).toBe(first.fingerprint);

    await atomicWrite(join(liveSite, "fullchain.pem"), second.cert);
    await atomicWrite(join(liveSite, "privkey.pem"), second.key);
    await eventually(async () => edge.logs.some((line) => line.message === "serving a renewed TLS certificate"), 10_000, "the renewal noticed by the periodic check");
    expect(await servedFingerprint(port)).toBe(second.fingerprint);
  }, 60_000);
});
