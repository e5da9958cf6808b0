/**
 * Child process of the local stack: the in-memory Cosmos DB server on loopback.
 * It exits with its parent (the IPC channel closes), so no orphan keeps the port.
 */
import { createHttpServer } from "@vercel/cosmosdb-server";

const port = Number(process.argv[2] ?? "8081");
// keepAlive: without it the server closes every connection, and each SDK call pays a
// new TCP handshake (real Cosmos DB keeps connections open).
const server = createHttpServer({ keepAlive: true });
// Longer than the SDK keeps an idle socket, so the server never closes one the SDK is
// about to reuse (that race surfaces as ECONNRESET on a write).
server.keepAliveTimeout = 120_000;
server.listen(port, "127.0.0.1", () => {
  process.send?.({ listening: port });
});
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
