/**
 * CERTIFICATE_EXPIRING (conditions.ts): set while the certificate the agent serves expires
 * within 14 days, so the cloud shows it before clients start failing; cleared once a renewed
 * certificate is served (certificate-reloader.ts reports each one it serves, and again at
 * every periodic check, since time alone brings the expiry closer).
 */
import { withCondition, withoutCondition, type Condition } from "./conditions.js";

export const CERTIFICATE_WARNING_MS = 14 * 24 * 60 * 60 * 1000;

export function withCertificateExpiry(conditions: readonly Condition[] | undefined, validTo: Date, now: Date): Condition[] {
  const left = validTo.getTime() - now.getTime();
  if (left >= CERTIFICATE_WARNING_MS) return withoutCondition(conditions, "CERTIFICATE_EXPIRING");
  const description =
    left <= 0
      ? `the serving TLS certificate expired at ${validTo.toISOString()}: renew it (the agent serves renewed files without a restart)`
      : `the serving TLS certificate expires at ${validTo.toISOString()}, in ${Math.ceil(left / 86_400_000)} day(s): renew it (the agent serves renewed files without a restart)`;
  // The description changes as days pass; `since` stays, and with it the correlation id.
  return withCondition(conditions, "CERTIFICATE_EXPIRING", description, now);
}
