/**
 * Holds an HTTP server's responses until what they acknowledge is on disk. The local
 * stack's emulators (the Cosmos DB server, Azurite) keep their state in memory and save
 * it on their own schedule; wrapped this way, a client never gets an answer for a change
 * that a crash could still take back. Nothing leaves before the barrier: the status line
 * and headers go out with the first write, and writes are queued until it resolves.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";

/** Returns the promise a response must wait for, or undefined when it need not wait. */
export type DurabilityBarrier = (request: IncomingMessage, response: ServerResponse) => Promise<void> | undefined;

export function holdResponsesUntilDurable(server: Server, barrier: DurabilityBarrier, holds: (request: IncomingMessage) => boolean = () => true): void {
  const listeners = server.listeners("request") as Array<(request: IncomingMessage, response: ServerResponse) => void>;
  server.removeAllListeners("request");
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    if (holds(request)) deferUntilBarrier(request, response, barrier);
    for (const listener of listeners) listener.call(server, request, response);
  });
}

function deferUntilBarrier(request: IncomingMessage, response: ServerResponse, barrier: DurabilityBarrier): void {
  const write = response.write as (...args: unknown[]) => boolean;
  const end = response.end as (...args: unknown[]) => ServerResponse;
  let queued: Array<() => void> | undefined = [];
  let waiting = false;
  let backpressured = false;
  const release = (): void => {
    const calls = queued ?? [];
    queued = undefined;
    response.write = write as ServerResponse["write"];
    response.end = end as ServerResponse["end"];
    for (const call of calls) call();
    // A writer told to wait (a piped body) resumes on "drain".
    if (backpressured) process.nextTick(() => response.emit("drain"));
  };
  // The barrier is asked at the first write or the end, when the status is known.
  const startWaiting = (): void => {
    if (waiting) return;
    waiting = true;
    const wait = barrier(request, response);
    if (!wait) release();
    else
      wait.then(release, () => {
        // Not durable: the client must not read this as acknowledged.
        queued = undefined;
        response.destroy();
      });
  };
  response.write = function (this: ServerResponse, ...args: unknown[]) {
    startWaiting();
    if (!queued) return write.apply(response, args);
    queued.push(() => write.apply(response, args));
    // Hold the writer back: one chunk waits here, not the whole body.
    backpressured = true;
    return false;
  } as ServerResponse["write"];
  response.end = function (this: ServerResponse, ...args: unknown[]) {
    startWaiting();
    if (!queued) return end.apply(response, args);
    queued.push(() => end.apply(response, args));
    return response;
  } as ServerResponse["end"];
}
