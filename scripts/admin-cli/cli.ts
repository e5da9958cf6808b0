/**
 * registry-admin: parse the command line, run the command, and turn what went wrong into
 * a message on stderr and an exit code (errors.ts). Importable without side effects: the
 * bin is main.ts.
 */
import { parseCommandLine, type CommandSpec } from "./args.js";
import { changeLogCommands } from "./change-log.js";
import { connectedRegistryCommands } from "./connected-registries.js";
import { CommandContext, type CliIO } from "./context.js";
import { ApiError, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, UnreachableError, UsageError } from "./errors.js";
import { importCommands } from "./import.js";
import { loginCommands } from "./login.js";
import { selectProfile } from "./profiles.js";
import { pushSampleCommands } from "./push-sample.js";
import { repositoryCommands } from "./repositories.js";
import { scopeMapCommands } from "./scope-maps.js";
import { tokenCommands } from "./tokens.js";
import { commandHelp, groupHelp } from "./usage.js";
import { webhookCommands } from "./webhooks.js";

export const COMMANDS: readonly CommandSpec<CommandContext>[] = [...scopeMapCommands, ...tokenCommands, ...connectedRegistryCommands, ...importCommands, ...repositoryCommands, ...changeLogCommands, ...webhookCommands, ...loginCommands, ...pushSampleCommands];

export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  const commands = COMMANDS as readonly CommandSpec<unknown>[];
  try {
    const parsed = parseCommandLine(argv, COMMANDS);
    if (parsed.kind === "help") {
      const text = parsed.command ? commandHelp(parsed.command as CommandSpec<unknown>) : groupHelp(commands, parsed.path);
      const asked = argv.includes("--help") || argv.includes("-h");
      (asked ? io.stdout : io.stderr).write(text);
      return asked ? EXIT_OK : EXIT_USAGE;
    }
    const profile = await selectProfile(io.env, parsed.flags.string("registry"), parsed.flags.command);
    await parsed.command.run(new CommandContext(parsed.flags, io, profile));
    return EXIT_OK;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`error: ${error.message}\n${error.command ? `see: registry-admin ${error.command} --help\n` : "see: registry-admin --help\n"}`);
      return EXIT_USAGE;
    }
    if (error instanceof ApiError) {
      io.stderr.write(`error: ${error.code}${error.status ? ` (HTTP ${error.status})` : ""}: ${error.message}\n`);
      return EXIT_REFUSED;
    }
    if (error instanceof UnreachableError) {
      io.stderr.write(`error: ${error.message}\n`);
      return EXIT_UNREACHABLE;
    }
    throw error;
  }
}
