/**
 * `login`, as `az login` + `az acr login` for this registry: checks the endpoint and admin
 * key against the management API, then saves them as a profile (profiles.ts) that later
 * commands use without --endpoint/--admin-key. The key is read from a prompt that does not
 * echo it, or from standard input when that is not a terminal (`... | registry-admin login`);
 * it is never printed.
 */
import type { CommandSpec } from "./args.js";
import { ManagementApi } from "./client.js";
import { checkedEndpoint, type CliIO, type CommandContext } from "./context.js";
import { UsageError } from "./errors.js";
import { profileNameFor, saveProfile } from "./profiles.js";

/** The first line of standard input (a pipe or file), or what is typed at a prompt that does not echo. */
export async function readSecret(io: CliIO, prompt: string): Promise<string> {
  const stdin = io.stdin;
  if (!stdin) throw new UsageError("no standard input to read the admin key from: give --admin-key or set REGISTRY_ADMIN_KEY");
  if (stdin.isTTY && stdin.setRawMode) return readHidden(stdin as NodeJS.ReadStream, io, prompt);
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString("utf8").split(/\r?\n/)[0]!.trim();
}

function readHidden(stdin: NodeJS.ReadStream, io: CliIO, prompt: string): Promise<string> {
  io.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = "";
    const done = (error?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      io.stderr.write("\n");
      if (error) reject(error);
      else resolve(typed.trim());
    };
    const onData = (data: Buffer): void => {
      for (const char of data.toString("utf8")) {
        if (char === "\r" || char === "\n") return done();
        if (char === "\u0003") return done(new UsageError("login cancelled"));
        if (char === "\u007f" || char === "\b") typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", onData);
  });
}

export const loginCommands: CommandSpec<CommandContext>[] = [
  {
    path: ["login"],
    summary: "Check an endpoint and its admin key, and save them (mode 0600) so later commands need neither; the last login is the default.",
    credentials: "admin",
    flags: [
      { name: "name", short: "n", kind: "string", value: "PROFILE", help: "what to call this registry, for --registry (default: the endpoint's host)" },
    ],
    examples: ["registry-admin login --endpoint http://127.0.0.1:5000        # then paste the admin key (not echoed)", "registry-admin login --endpoint https://myregistry.example.com --name prod < key.txt"],
    run: async (ctx) => {
      const command = ctx.flags.command;
      const given = ctx.flags.string("endpoint") ?? (ctx.io.env.REGISTRY_ENDPOINT || undefined);
      if (given === undefined) throw new UsageError("missing required flag --endpoint: the registry to log in to, e.g. http://127.0.0.1:5000", command);
      const endpoint = checkedEndpoint(given, command);
      const adminKey = ctx.flags.string("admin-key") ?? (ctx.io.env.REGISTRY_ADMIN_KEY || undefined) ?? (await readSecret(ctx.io, `admin key for ${endpoint}: `));
      if (adminKey === "") throw new UsageError("no admin key given (the local stack prints it at its first start; docs/admin-cli.md says what to do if it is lost)", command);
      // Refused keys are not saved: the API's 401 comes out as the error.
      await new ManagementApi(endpoint, adminKey, ctx.io.fetch).call("GET", "scopeMaps");
      const name = ctx.flags.string("name") ?? profileNameFor(endpoint);
      const file = await saveProfile(ctx.io.env, name, { endpoint, adminKey });
      ctx.note(`logged in to ${endpoint} as "${name}" (saved in ${file}; the default until the next login)`);
    },
  },
];
