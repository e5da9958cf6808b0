/**
 * connected-registry start | status: the edge agent's command line. Exit codes: 0 ok,
 * 2 bad options, 1 anything else.
 */
import { startEdgeAgent } from "./agent.js";
import { createLogger, errorText } from "./log.js";
import { OptionsError, parseStartOptions, parseStatusOptions } from "./options.js";
import { readState } from "./state.js";
import { formatStatus, statusView } from "./status.js";

const USAGE = `usage:
  connected-registry start --connection-string "<from get-settings>" [--data DIR] [--port 8080]
                           (--tls-cert FILE --tls-key FILE | --http) [--parent-ca FILE]
                           [--login-server HOST:PORT] [--log-level debug|info|warn|error]
                           [--sync-interval SECONDS] [--concurrency N]
                           [--headers-timeout SECONDS] [--request-timeout SECONDS]
                           [--body-idle-timeout SECONDS] [--max-uploads-per-client N]
  connected-registry status [--data DIR] [--output json]
The connection string may also come from CONNECTED_REGISTRY_CONNECTION_STRING, or from the file that
CONNECTED_REGISTRY_CONNECTION_STRING_FILE names.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === "start") {
    const options = await parseStartOptions(args, process.env);
    const log = createLogger(options.logLevel ?? "info");
    const agent = await startEdgeAgent(options, log);
    await new Promise<void>((resolve) => {
      const shutdown = (signal: string): void => {
        log.info("stopping", { signal });
        void agent.stop().finally(resolve);
      };
      process.once("SIGINT", shutdown);
      process.once("SIGTERM", shutdown);
    });
    return 0;
  }
  if (command === "status") {
    const options = parseStatusOptions(args, process.env);
    const state = await readState(options.dataDir);
    if (!state) {
      process.stderr.write(`no agent state in ${options.dataDir}: start the agent with --data ${options.dataDir} first\n`);
      return 1;
    }
    process.stdout.write((options.json ? JSON.stringify(statusView(state, { names: true }), null, 2) : formatStatus(state)) + "\n");
    return 0;
  }
  process.stderr.write(`${command ? `unknown command "${command}"\n` : ""}${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof OptionsError || (error instanceof TypeError && (error as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS"))) {
      process.stderr.write(`${error.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`connected-registry: ${errorText(error)}\n`);
    process.exit(1);
  },
);
