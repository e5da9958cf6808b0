/** Converts between the Azure Functions v4 request/response and the handlers' neutral shape. */
import type { HttpRequest, HttpResponseInit, InvocationContext, Timer } from "@azure/functions";
import { correlated } from "../observability/correlation.js";
import { forwardedClientAddress } from "./client-address.js";
import type { Handler, TimerDefinition } from "./types.js";

export function toAzureHttpHandler(handler: Handler): (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit> {
  return async (request, context) => {
    const headers = new Headers([...request.headers]);
    const clientAddress = forwardedClientAddress(headers);
    // The invocation id is what Application Insights correlates the request's telemetry by.
    const response = await correlated(handler, () => context.invocationId)({
      method: request.method.toUpperCase(),
      url: new URL(request.url),
      headers,
      ...(clientAddress ? { clientAddress } : {}),
      // With HTTP streaming on, the body is a web ReadableStream, which is async-iterable in Node.
      body: request.body ? (request.body as unknown as AsyncIterable<Uint8Array>) : null,
    });
    return {
      status: response.status,
      ...(response.headers ? { headers: response.headers } : {}),
      ...(response.body !== undefined ? { body: response.body as HttpResponseInit["body"] } : {}),
    };
  };
}

export function toAzureTimerHandler(timer: TimerDefinition): (tick: Timer, context: InvocationContext) => Promise<void> {
  return async (_tick, context) => {
    await timer.run((message) => context.log(message));
  };
}
