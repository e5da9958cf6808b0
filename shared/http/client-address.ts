import type { HeaderReader } from "./types.js";

/**
 * The client's address in Azure. A function never sees the client's socket: App Service's
 * front end (Flex Consumption included) connects to the worker and puts the client's address
 * in X-Forwarded-For, appended after whatever the client itself sent there, sometimes with
 * a port ("203.0.113.7:51234", "[2001:db8::1]:51234"). Only the last entry was written by
 * the front end, so only it is trusted; the earlier ones are the client's to forge.
 */
export function forwardedClientAddress(headers: HeaderReader): string | undefined {
  const entries = (headers.get("x-forwarded-for") ?? "").split(",").map((entry) => entry.trim()).filter(Boolean);
  const last = entries.at(-1);
  if (!last) return undefined;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(last);
  if (bracketed) return bracketed[1];
  // One colon: IPv4 with a port. More: a bare IPv6 address.
  const colons = last.split(":").length - 1;
  return colons === 1 ? last.slice(0, last.indexOf(":")) : last;
}
