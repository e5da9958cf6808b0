/**
 * Child process of the local stack: the in-memory Cosmos DB server on loopback, made
 * durable by its journal (cosmos-journal.ts): the state is restored before the server
 * says it listens, and no answer leaves before the changes it acknowledges are on disk.
 *
 * argv: <port> <folder> [--no-journal]   (--no-journal only to show what the journal prevents)
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { createHttpServer } from "@vercel/cosmosdb-server";
import { stopWhenTheStackSays } from "./child-lifecycle.js";
import { CosmosJournal, cosmosModelItemsClass, type CosmosAccount } from "./cosmos-journal.js";
import { holdResponsesUntilDurable } from "./hold-responses.js";

const port = Number(process.argv[2] ?? "8081");
const folder = process.argv[3];
const journalDisabled = process.argv.includes("--no-journal");
if (!folder) throw new Error("usage: cosmos-server <port> <folder>");
const log = (message: string): void => void process.stderr.write(`${message}\n`);

// The server creates its account when it starts listening and keeps it to itself; the
// journal needs it, so the account class is wrapped to hand the instance over.
const require = createRequire(import.meta.url);
const accountModule = require("@vercel/cosmosdb-server/lib/account/index.js") as { default: new (host: string, port: number) => CosmosAccount };
const OriginalAccount = accountModule.default;
let account: CosmosAccount | undefined;
accountModule.default = class extends (OriginalAccount as new (host: string, port: number) => object) {
  constructor(host: string, listeningPort: number) {
    super(host, listeningPort);
    account = this as unknown as CosmosAccount;
  }
} as unknown as typeof OriginalAccount;

// keepAlive: without it the server closes every connection, and each SDK call pays a
// new TCP handshake (real Cosmos DB keeps connections open).
const server = createHttpServer({ keepAlive: true });
// Longer than the SDK keeps an idle socket, so the server never closes one the SDK is
// about to reuse (that race surfaces as ECONNRESET on a write).
server.keepAliveTimeout = 120_000;

let journal: CosmosJournal | undefined;
let ready = false;
// Every answer, reads included, waits for the changes made before it: a reader must not
// act on a change that a crash could still take back.
holdResponsesUntilDurable(server, () => journal?.whenDurable());
// Until the state is restored and the journal open, no request touches the model: one
// applied during the replay would be overwritten by it, or escape the journal.
const serve = server.listeners("request") as Array<(request: IncomingMessage, response: ServerResponse) => void>;
server.removeAllListeners("request");
server.on("request", (request: IncomingMessage, response: ServerResponse) => {
  if (!ready) {
    response.writeHead(503, { "Content-Type": "application/json", "Retry-After": "1" }).end('{"message":"restoring the journal; retry"}');
    return;
  }
  for (const listener of serve) listener.call(server, request, response);
});

server.listen(port, "127.0.0.1", () => {
  void (async () => {
    if (!account) throw new Error("the Cosmos DB server did not create its account");
    journal = new CosmosJournal(account, { folder, log, disabled: journalDisabled });
    // Hooks first: restoring goes through them too, which is how the journal learns the names.
    journal.attach(cosmosModelItemsClass());
    const restored = await journal.open();
    ready = true;
    process.send?.({ listening: port, restored });
  })().catch((error: unknown) => {
    log(`the Cosmos DB server cannot start: ${(error as Error).message}`);
    process.exit(1);
  });
});

// The benchmark asks how often the journal went to disk.
process.on("message", (message: unknown) => {
  if ((message as { type?: string } | null)?.type === "stats") process.send?.({ type: "stats", journalFsyncs: journal?.fsyncs ?? 0 });
});

stopWhenTheStackSays(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await journal?.close();
}, log);
