/**
 * A correlation id per request, carried through every layer with AsyncLocalStorage: the
 * handlers, the stores and the logs they write all see the same id, and the response
 * returns it (`X-Correlation-Id`), so a client's report finds the log lines. A caller's own
 * id is kept when it is a plain token; otherwise one is made (the Functions invocation id in
 * Azure, which Application Insights correlates too).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import type { Handler } from "../http/types.js";

export const CORRELATION_HEADER = "X-Correlation-Id";
const storage = new AsyncLocalStorage<string>();
const SANE_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function currentCorrelationId(): string | undefined {
  return storage.getStore();
}

export function withCorrelationId<T>(id: string, work: () => Promise<T>): Promise<T> {
  return storage.run(id, work);
}

/** Runs the handler under the request's correlation id and returns that id in the response. */
export function correlated(handler: Handler, makeId: () => string = randomUUID): Handler {
  return async (request) => {
    const offered = request.headers.get(CORRELATION_HEADER);
    const id = offered && SANE_ID.test(offered) ? offered : makeId();
    const response = await withCorrelationId(id, () => handler(request));
    return { ...response, headers: { ...response.headers, [CORRELATION_HEADER]: id } };
  };
}
