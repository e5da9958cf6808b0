/**
 * Where the agent's connection string comes from, first found wins:
 *   --connection-string, --connection-string-file,
 *   CONNECTED_REGISTRY_CONNECTION_STRING, CONNECTED_REGISTRY_CONNECTION_STRING_FILE,
 *   ACR_REGISTRY_CONNECTION_STRING (ACR's name, so deployment scripts written for ACR's
 *   connected registry carry over).
 * A file keeps the sync token's password out of `ps` output and out of the process's
 * environment (systemd credentials, a Kubernetes Secret mounted as a file). An empty
 * variable counts as unset, as shells and manifests often leave one defined but blank.
 */
import { readFile } from "node:fs/promises";

export type ConnectionSource = { ok: true; text: string; from: string } | { ok: false; problem: string };

export const CONNECTION_STRING_REQUIRED =
  "--connection-string (or CONNECTED_REGISTRY_CONNECTION_STRING, --connection-string-file, CONNECTED_REGISTRY_CONNECTION_STRING_FILE or ACR_REGISTRY_CONNECTION_STRING) is required: run get-settings on the parent to get one";

export async function readConnectionSource(flags: { text?: string | undefined; file?: string | undefined }, env: NodeJS.ProcessEnv): Promise<ConnectionSource> {
  if (flags.text !== undefined && flags.file !== undefined) return { ok: false, problem: "--connection-string and --connection-string-file exclude each other" };
  if (flags.text !== undefined) return { ok: true, text: flags.text, from: "--connection-string" };
  if (flags.file !== undefined) return fromFile(flags.file, "--connection-string-file");
  const set = (name: string): string | undefined => (env[name] === "" ? undefined : env[name]);
  const ownText = set("CONNECTED_REGISTRY_CONNECTION_STRING");
  if (ownText !== undefined) return { ok: true, text: ownText, from: "CONNECTED_REGISTRY_CONNECTION_STRING" };
  const ownFile = set("CONNECTED_REGISTRY_CONNECTION_STRING_FILE");
  if (ownFile !== undefined) return fromFile(ownFile, "CONNECTED_REGISTRY_CONNECTION_STRING_FILE");
  const acrText = set("ACR_REGISTRY_CONNECTION_STRING");
  if (acrText !== undefined) return { ok: true, text: acrText, from: "ACR_REGISTRY_CONNECTION_STRING" };
  return { ok: false, problem: CONNECTION_STRING_REQUIRED };
}

async function fromFile(path: string, from: string): Promise<ConnectionSource> {
  let content: string;
  try {
    content = await readFile(path, "utf8");
  } catch (error) {
    return { ok: false, problem: `${from}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})` };
  }
  // Editors and `echo` end a file with a newline; no field of a connection string holds whitespace at its ends.
  const text = content.trim();
  if (text === "") return { ok: false, problem: `${from}: ${path} is empty` };
  return { ok: true, text, from: `${from} (${path})` };
}
