/**
 * skopeo confined to a temporary folder (auth file, policy, registries.d, registries.conf,
 * HOME), so credentials, mirrors or signature rules of the machine's user cannot change a
 * result; credentials are always given on the command line. Shared by the end-to-end tests
 * (identity.test.ts, edge-agent.test.ts).
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface Credentials {
  username: string;
  password: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;

export class Skopeo {
  private constructor(private readonly dir: string) {}

  static async create(): Promise<Skopeo> {
    const dir = await mkdtemp(join(tmpdir(), "skopeo-e2e-"));
    await writeFile(join(dir, "auth.json"), "{}");
    await writeFile(join(dir, "policy.json"), JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
    await writeFile(join(dir, "registries.conf"), "unqualified-search-registries = []\n");
    await mkdir(join(dir, "registries.d"));
    await mkdir(join(dir, "home"));
    return new Skopeo(dir);
  }

  /** Runs `skopeo <command> --authfile <own> <args>`; rejects (with skopeo's stderr in the message) on a non-zero exit. */
  async run(command: string, args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
    const flags = ["--policy", join(this.dir, "policy.json"), "--registries.d", join(this.dir, "registries.d")];
    const { stdout } = await execFileAsync("skopeo", [...flags, command, "--authfile", join(this.dir, "auth.json"), ...args], {
      env: {
        PATH: process.env.PATH,
        HOME: join(this.dir, "home"),
        REGISTRY_AUTH_FILE: join(this.dir, "auth.json"),
        CONTAINERS_REGISTRIES_CONF: join(this.dir, "registries.conf"),
      },
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  }

  /**
   * `skopeo copy` keeping every manifest as it is, TLS off on the destination. `flags` come
   * before the source, e.g. `--all`, or `--src-creds` and `--src-tls-verify=false` to read
   * from a registry.
   */
  async copy(source: string, destination: string, destCreds: Credentials, flags: string[] = [], options: { timeoutMs?: number } = {}): Promise<void> {
    await this.run(
      "copy",
      ["--quiet", "--dest-tls-verify=false", "--preserve-digests", "--dest-creds", `${destCreds.username}:${destCreds.password}`, ...flags, source, destination],
      options,
    );
  }

  /** `skopeo copy` from a registry (TLS off) to a local transport such as `dir:` or `oci:`. */
  async copyFrom(source: string, destination: string, srcCreds: Credentials, flags: string[] = [], options: { timeoutMs?: number } = {}): Promise<void> {
    await this.run(
      "copy",
      ["--quiet", "--src-tls-verify=false", "--preserve-digests", "--src-creds", `${srcCreds.username}:${srcCreds.password}`, ...flags, source, destination],
      options,
    );
  }

  inspectRaw(image: string, creds: Credentials): Promise<string> {
    return this.run("inspect", ["--raw", "--tls-verify=false", "--creds", `${creds.username}:${creds.password}`, image]);
  }

  async listTags(repository: string, creds: Credentials): Promise<string[]> {
    const out = await this.run("list-tags", ["--tls-verify=false", "--creds", `${creds.username}:${creds.password}`, repository]);
    return (JSON.parse(out) as { Tags: string[] }).Tags;
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
