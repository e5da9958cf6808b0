/**
 * connected-registry start | status | gc: the edge agent's command line. Exit codes: 0 ok,
 * 2 bad options, 1 anything else.
 */
import { Settings as DateSettings } from "luxon";
import { startEdgeAgent } from "./agent.js";
import { runGcCommand } from "./gc/command.js";
import { setHeapGrowth } from "./heap-growth.js";
import { createLogger, errorText } from "./log.js";
import { OptionsError, parseStartOptions, parseStatusOptions } from "./options.js";
import { readState } from "./state.js";
import { waitForFirstSync } from "./status-wait.js";
import { formatStatus, statusView } from "./status.js";
import { AGENT_VERSION } from "./version.js";

const USAGE = `usage:
  connected-registry start (--connection-string "<from get-settings>" | --connection-string-file FILE)
                           [--data DIR] [--port 8080]
                           (--tls-cert FILE --tls-key FILE | --http) [--parent-ca FILE]
                           [--login-server HOST:PORT] [--log-level debug|info|warn|error|none]
                           [--sync-interval SECONDS] [--concurrency N]
                           [--headers-timeout SECONDS] [--request-timeout SECONDS]
                           [--body-idle-timeout SECONDS] [--max-uploads-per-client N]
                           [--max-storage SIZE] [--min-free-space SIZE]
  connected-registry status [--data DIR] [--output json] [--wait SECONDS]
  connected-registry gc [--data DIR] [--dry-run] [--output json]
  connected-registry --version
The connection string may also come from CONNECTED_REGISTRY_CONNECTION_STRING, a file named by
CONNECTED_REGISTRY_CONNECTION_STRING_FILE, or ACR_REGISTRY_CONNECTION_STRING; a file keeps the
sync token's password out of ps output.`;

// cron-parser works in luxon dates, and luxon's first date asks Intl for the system's locale:
// ~20 ms of loading locale data on the event loop at start-up, while the agent activates. No
// date is ever formatted for a person, so the locale is fixed. (Only the bundle shares this
// luxon with cron-parser; run from tsc's output the setting does not reach it, which costs
// those ~20 ms and nothing else.)
DateSettings.defaultLocale = "en-US";

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === "--version" || command === "-v" || command === "version") {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return 0;
  }
  if (command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`connected-registry ${AGENT_VERSION}\n${USAGE}\n`);
    return 0;
  }
  if (command === "start") {
    setHeapGrowth();
    const options = await parseStartOptions(args, process.env);
    const log = createLogger(options.logLevel ?? "info");
    // Listened for before the start: a stop asked for while the agent starts (a service
    // manager's, right after the "serving" line) waits for the start and then stops cleanly,
    // saving the state and giving back the data folder's lock, instead of killing it mid-way.
    const stopSignal = new Promise<string>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
    });
    const agent = await startEdgeAgent(options, log);
    log.info("stopping", { signal: await stopSignal });
    await agent.stop();
    return 0;
  }
  if (command === "status") {
    const options = parseStatusOptions(args, process.env);
    const state = options.waitSeconds !== undefined ? await waitForFirstSync(options.dataDir, options.waitSeconds) : await readState(options.dataDir);
    if (!state) {
      process.stderr.write(`no agent state in ${options.dataDir}: start the agent with --data ${options.dataDir} first\n`);
      return 1;
    }
    process.stdout.write((options.json ? JSON.stringify(statusView(state, { names: true }), null, 2) : formatStatus(state)) + "\n");
    if (options.waitSeconds !== undefined && !state.cursor) {
      process.stderr.write(`the first sync did not finish within ${options.waitSeconds} s${state.lastError ? `; last error: ${state.lastError}` : ""}\n`);
      return 1;
    }
    return 0;
  }
  if (command === "gc") return runGcCommand(args, process.env, { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) });
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
