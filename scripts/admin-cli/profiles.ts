/**
 * Saved registries, so the endpoint and admin key are typed once (`registry-admin login`,
 * as `az login` / `az acr login` keep theirs): profiles.json in the config folder
 * ($XDG_CONFIG_HOME/registry-admin, else ~/.config/registry-admin), mode 0600 in a 0700
 * folder, like ~/.docker/config.json. The key is kept as given (the management API needs it
 * as is), so the file's mode is what protects it: it is written through a temporary file
 * created 0600 and renamed, never widened, and a file another user could read is refused.
 */
import { chmod, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { UsageError } from "./errors.js";

const profileSchema = z.object({ endpoint: z.string(), adminKey: z.string() });
const profilesSchema = z.object({ default: z.string().optional(), profiles: z.record(z.string(), profileSchema) });

export type Profile = z.infer<typeof profileSchema>;
export type Profiles = z.infer<typeof profilesSchema>;

export function configDir(env: Readonly<Record<string, string | undefined>>): string {
  if (env.REGISTRY_ADMIN_CONFIG_DIR) return env.REGISTRY_ADMIN_CONFIG_DIR;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "registry-admin");
  if (!env.HOME) throw new UsageError("cannot find a folder for saved registries: set HOME or REGISTRY_ADMIN_CONFIG_DIR");
  return join(env.HOME, ".config", "registry-admin");
}

export const profilesFile = (env: Readonly<Record<string, string | undefined>>): string => join(configDir(env), "profiles.json");

export async function readProfiles(env: Readonly<Record<string, string | undefined>>): Promise<Profiles> {
  // No folder to look in (no HOME): nothing was saved, and only `login` needs one.
  if (!env.REGISTRY_ADMIN_CONFIG_DIR && !env.XDG_CONFIG_HOME && !env.HOME) return { profiles: {} };
  const file = profilesFile(env);
  let text: string;
  try {
    if (((await stat(file)).mode & 0o077) !== 0) throw new UsageError(`${file} may be read by other users: chmod 600 ${file} (it holds admin keys)`);
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { profiles: {} };
    throw error;
  }
  const parsed = profilesSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new UsageError(`${file} is not a profiles file written by registry-admin login: remove it and log in again`);
  return parsed.data;
}

export async function saveProfile(env: Readonly<Record<string, string | undefined>>, name: string, profile: Profile): Promise<string> {
  const profiles = await readProfiles(env);
  profiles.profiles[name] = profile;
  profiles.default = name;
  const dir = configDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = profilesFile(env);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(profiles, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, file);
  return file;
}

/** The profile --registry names, else the default one (the last login); undefined when there is none. */
export async function selectProfile(env: Readonly<Record<string, string | undefined>>, name: string | undefined, command: string): Promise<(Profile & { name: string }) | undefined> {
  const { profiles, default: fallback } = await readProfiles(env);
  const wanted = name ?? fallback;
  if (wanted === undefined) return undefined;
  const profile = profiles[wanted];
  if (!profile) {
    if (name === undefined) return undefined;
    const known = Object.keys(profiles);
    throw new UsageError(
      `no saved registry "${name}"${known.length > 0 ? ` (saved: ${known.join(", ")})` : ""}: run registry-admin login --endpoint URL --name ${name}, or give --endpoint`,
      command,
    );
  }
  return { name: wanted, ...profile };
}

/** A default profile name for an endpoint: its host, as az names a registry by its login server. */
export function profileNameFor(endpoint: string): string {
  return new URL(endpoint).host;
}
