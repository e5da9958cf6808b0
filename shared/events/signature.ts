/**
 * Each delivery is signed with the webhook's secret: `X-Registry-Signature-256:
 * sha256=<hex HMAC-SHA256 of the raw body>` (GitHub's convention). A receiver recomputes
 * it over the bytes it got and compares in constant time (docs/events.md).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "X-Registry-Signature-256";

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}

export function verifySignature(secret: string, body: string, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(signBody(secret, body));
  const offered = Buffer.from(header);
  return expected.length === offered.length && timingSafeEqual(expected, offered);
}
