/**
 * Runs the real podman client (as root) confined to a temporary folder, so a test sees
 * only what it did itself and leaves nothing on the machine: its own image store (`vfs`,
 * which needs no kernel overlay support), run root and libpod state, file locks instead
 * of the shared /dev/shm segment, a file events log, an auth file, an empty
 * registries.conf, an accept-anything signature policy and a throwaway HOME, so neither
 * the machine's nor the user's credentials or mirrors can change a result.
 *
 * Commands never throw for a non-zero exit: tests assert on the exit code and what
 * podman printed, as a user would. A command that hangs past its timeout does throw, so
 * a hang is never mistaken for a refusal.
 *
 * Still read from the machine (podman 4.3 offers no override): /etc/containers/registries.d
 * and registries.conf.d (signature storage and short-name aliases; neither applies to
 * fully qualified names pulled without signatures) and /etc/docker/certs.d. Still written:
 * the blob-info cache /var/lib/containers/cache, which c/image keeps there for root
 * whatever the storage root (skopeo writes the same file).
 */
import { execFile, type ExecFileException } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CommandResult {
  /** The exit code (0 on success). */
  code: number;
  stdout: string;
  stderr: string;
}

/** What `podman image inspect` prints for one image (the fields tests read). */
export interface PodmanImage {
  Id: string;
  Digest: string;
  RepoTags: string[];
  RepoDigests: string[];
  Architecture: string;
  Os: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;

export class Podman {
  private constructor(
    readonly dir: string,
    private readonly globalFlags: string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** The auth file `podman login` writes and every registry command reads. */
  get authFile(): string {
    return join(this.dir, "auth.json");
  }

  private get policyFile(): string {
    return join(this.dir, "policy.json");
  }

  static async create(): Promise<Podman> {
    const dir = await mkdtemp(join(tmpdir(), "podman-e2e-"));
    const path = (name: string): string => join(dir, name);
    for (const name of ["root", "runroot", "libpod-tmp", "tmp", "xdg-runtime", "xdg-config", "xdg-data", "home", "docker-config", "networks"]) {
      await mkdir(path(name), { mode: 0o700 });
    }
    await writeFile(path("auth.json"), "{}\n", { mode: 0o600 });
    await writeFile(path("registries.conf"), "unqualified-search-registries = []\n");
    await writeFile(path("policy.json"), JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
    await writeFile(path("storage.conf"), ['[storage]', 'driver = "vfs"', `graphroot = "${path("root")}"`, `runroot = "${path("runroot")}"`, ""].join("\n"));
    // CONTAINERS_CONF replaces every containers.conf podman would otherwise merge.
    await writeFile(
      path("containers.conf"),
      [
        "[engine]",
        // The default "shm" lock type creates /dev/shm/libpod_lock, shared by every root podman.
        'lock_type = "file"',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${path("events.log")}"`,
        `tmp_dir = "${path("libpod-tmp")}"`,
        `image_copy_tmp_dir = "${path("tmp")}"`,
        `volume_path = "${path("root")}/volumes"`,
        "[network]",
        // netavark, the default, creates /run/containers/networks on every command; CNI
        // keeps to network_config_dir (and these tests run no container).
        'network_backend = "cni"',
        `network_config_dir = "${path("networks")}"`,
        "",
      ].join("\n"),
    );

    const globalFlags = [
      "--root", path("root"),
      "--runroot", path("runroot"),
      "--storage-driver", "vfs",
      "--tmpdir", path("libpod-tmp"),
      "--cgroup-manager", "cgroupfs",
      "--events-backend", "file",
    ];
    // A fresh environment, not process.env: no CONTAINER_HOST, DOCKER_CONFIG or the like leaks in.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: path("home"),
      TMPDIR: path("tmp"),
      XDG_RUNTIME_DIR: path("xdg-runtime"),
      XDG_CONFIG_HOME: path("xdg-config"),
      XDG_DATA_HOME: path("xdg-data"),
      DOCKER_CONFIG: path("docker-config"),
      CONTAINERS_CONF: path("containers.conf"),
      CONTAINERS_STORAGE_CONF: path("storage.conf"),
      CONTAINERS_REGISTRIES_CONF: path("registries.conf"),
      REGISTRY_AUTH_FILE: path("auth.json"),
      LANG: "C.UTF-8",
    };
    return new Podman(dir, globalFlags, env);
  }

  /** Runs `podman <args>` with the confined configuration. */
  run(args: string[], options: { timeoutMs?: number; logLevel?: "debug" } = {}): Promise<CommandResult> {
    const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const logLevel = options.logLevel ? [`--log-level=${options.logLevel}`] : [];
    const argv = [...this.globalFlags, ...logLevel, ...args];
    return new Promise((resolve, reject) => {
      execFile("podman", argv, { env: this.env, timeout, killSignal: "SIGKILL", maxBuffer: 32 * 1024 * 1024 }, (error: ExecFileException | null, stdout, stderr) => {
        if (error && (error.killed || error.signal)) {
          reject(new Error(`podman ${args.join(" ")} did not finish within ${timeout} ms (signal ${error.signal ?? "?"})\n${stderr}`));
          return;
        }
        if (error && typeof error.code !== "number") {
          reject(error); // podman could not be started at all
          return;
        }
        resolve({ code: error ? Number(error.code) : 0, stdout: String(stdout), stderr: String(stderr) });
      });
    });
  }

  login(host: string, username: string, password: string, options: { logLevel?: "debug" } = {}): Promise<CommandResult> {
    return this.run(["login", "--tls-verify=false", "--authfile", this.authFile, "-u", username, "-p", password, host], options);
  }

  /** `podman login --get-login`: the user name stored for `host`, or a failure when there is none. */
  getLogin(host: string): Promise<CommandResult> {
    return this.run(["login", "--get-login", "--authfile", this.authFile, host]);
  }

  logout(host: string): Promise<CommandResult> {
    return this.run(["logout", "--authfile", this.authFile, host]);
  }

  pull(image: string): Promise<CommandResult> {
    return this.run(["pull", "--tls-verify=false", "--authfile", this.authFile, "--signature-policy", this.policyFile, image]);
  }

  push(image: string): Promise<CommandResult> {
    return this.run(["push", "--tls-verify=false", "--authfile", this.authFile, "--signature-policy", this.policyFile, image]);
  }

  /** `podman import`: a new single-layer image from a tar archive, stored under `reference`. */
  async importTar(tarFile: string, reference: string): Promise<string> {
    const result = await this.run(["import", "--quiet", tarFile, reference]);
    if (result.code !== 0) throw new Error(`podman import failed (${result.code}): ${result.stderr}`);
    return result.stdout.trim();
  }

  async tag(source: string, target: string): Promise<void> {
    const result = await this.run(["tag", source, target]);
    if (result.code !== 0) throw new Error(`podman tag failed (${result.code}): ${result.stderr}`);
  }

  /** The image in podman's store, or undefined when there is none by that name. */
  async inspectImage(reference: string): Promise<PodmanImage | undefined> {
    const result = await this.run(["image", "inspect", reference]);
    if (result.code !== 0) return undefined;
    const images = JSON.parse(result.stdout) as PodmanImage[];
    return images[0];
  }

  /** The registries the auth file holds credentials for. */
  async loggedInTo(): Promise<string[]> {
    const file = JSON.parse(await readFile(this.authFile, "utf8")) as { auths?: Record<string, unknown> };
    return Object.keys(file.auths ?? {});
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
