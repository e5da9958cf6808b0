/**
 * The local stack's two ways for the app to reach Azurite (LOCAL_STORAGE_AUTH):
 *   key       the emulator's published account key in a connection string, over HTTP
 *             (the simplest; the default)
 *   identity  what Azure runs: Azurite in OAuth mode over HTTPS, and the app given only the
 *             two endpoints and STORAGE_CREDENTIAL=emulator, so it signs in with bearer tokens
 *             (shared/store/emulator-credential.ts) and signs read URLs with a user delegation
 *             key, never an account key.
 * Either way the stack itself (provisioning, tests that inspect storage) keeps the emulator's
 * connection string; only the app's settings differ.
 */
import { execFile } from "node:child_process";
import { access, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { getCACertificates, setDefaultCACertificates } from "node:tls";
import { promisify } from "node:util";

export type StorageAuth = "key" | "identity";
export const STORAGE_AUTH_CHOICES: readonly StorageAuth[] = ["key", "identity"];

/** Azurite's published development account; not a secret. */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export function storageAuthFrom(value: string | undefined): StorageAuth {
  const choice = value ?? "key";
  if (!(STORAGE_AUTH_CHOICES as readonly string[]).includes(choice)) throw new Error(`LOCAL_STORAGE_AUTH must be one of ${STORAGE_AUTH_CHOICES.join(", ")}, not ${value}`);
  return choice as StorageAuth;
}

export interface StorageProfile {
  /** Extra Azurite arguments (OAuth and TLS for identity). */
  azuriteArgs: string[];
  /** The emulator's connection string (the stack's own access, with the key). */
  connectionString: string;
  /** What the app is given to reach storage. */
  appSettings: Record<string, string>;
  /** The emulator's self-signed certificate (identity only): what another process must trust to follow a redirect to storage. */
  certificateFile?: string;
}

export async function storageProfile(auth: StorageAuth, dataDir: string, blobPort: number, queuePort: number): Promise<StorageProfile> {
  const scheme = auth === "identity" ? "https" : "http";
  const blobEndpoint = `${scheme}://127.0.0.1:${blobPort}/${AZURITE_ACCOUNT}`;
  const queueEndpoint = `${scheme}://127.0.0.1:${queuePort}/${AZURITE_ACCOUNT}`;
  const connectionString =
    `DefaultEndpointsProtocol=${scheme};AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
    `BlobEndpoint=${blobEndpoint};QueueEndpoint=${queueEndpoint};`;
  if (auth === "key") return { azuriteArgs: [], connectionString, appSettings: { STORAGE_CONNECTION_STRING: connectionString } };

  const { cert, key } = await emulatorCertificate(join(dataDir, "azurite-tls"));
  await trustCertificate(cert);
  return {
    azuriteArgs: ["--oauth", "basic", "--cert", cert, "--key", key],
    connectionString,
    appSettings: { STORAGE_BLOB_ENDPOINT: `${blobEndpoint}/`, STORAGE_QUEUE_ENDPOINT: `${queueEndpoint}/`, STORAGE_CREDENTIAL: "emulator" },
    certificateFile: cert,
  };
}

/** A self-signed certificate for 127.0.0.1, made once per data folder (openssl). */
async function emulatorCertificate(folder: string): Promise<{ cert: string; key: string }> {
  const cert = join(folder, "azurite-cert.pem");
  const key = join(folder, "azurite-key.pem");
  const exists = await access(cert).then(() => true, () => false);
  if (!exists) {
    await mkdir(folder, { recursive: true, mode: 0o700 });
    await promisify(execFile)("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
      "-keyout", key, "-out", cert, "-subj", "/CN=Local Azurite", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ]);
  }
  return { cert, key };
}

/**
 * The app runs in this process (the local host), so this process trusts the emulator's
 * certificate: the same as starting it with NODE_EXTRA_CA_CERTS=<cert>, which Node reads only
 * at start-up. The Azure SDK's HTTPS requests and fetch use Node's default CA list, which this
 * extends (the public roots stay).
 */
export async function trustCertificate(certFile: string): Promise<void> {
  const pem = await readFile(certFile, "utf8");
  const current = getCACertificates("default");
  if (!current.some((trusted) => trusted.trim() === pem.trim())) setDefaultCACertificates([...current, pem]);
}
