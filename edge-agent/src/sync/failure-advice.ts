/**
 * What a failed sync means for the person reading the log, when the raw error points the
 * wrong way (issue 16): a refused sync-token password, a connected registry name the parent
 * does not know, TLS spoken to a parent that serves plain HTTP. `slow` marks failures that
 * retrying cannot fix until someone acts: the engine then retries slowly and logs the
 * advice at error level once, at warn after that.
 */
import { RemoteError, RemoteUnreachableError } from "../../../shared/remote/errors.js";

export interface FailureAdvice {
  /** A stable name for the kind of failure (repeats of one kind are logged quietly). */
  kind: "sync-password" | "unknown-registry" | "sync-token-unknown" | "parent-not-tls";
  advice: string;
  slow: boolean;
}

/** How long to wait between tries when only a person can fix the failure. */
export const SLOW_RETRY_MS = 5 * 60_000;
/** How long such a failure is retried with the usual backoff first: a new password may be on its way to a parent edge. */
export const SLOW_AFTER_MS = 2 * 60_000;

/** TLS spoken to a plain-HTTP server: OpenSSL reads the HTTP answer as a malformed record. */
const NOT_TLS = /wrong version number|packet length too long|ERR_SSL_WRONG_VERSION_NUMBER|ERR_SSL_PACKET_LENGTH_TOO_LONG|http request|EPROTO/i;

function chainText(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(current.message, String((current as NodeJS.ErrnoException).code ?? ""));
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(" ");
}

export function adviceFor(error: unknown, connectedRegistryName: string, parentProtocol: "http" | "https"): FailureAdvice | undefined {
  if (error instanceof RemoteError) {
    const text = error.message;
    if (error.status === 401 && /does not exist/.test(text)) {
      return {
        kind: "sync-token-unknown",
        advice: `the parent does not know this connected registry's sync token (was connected registry "${connectedRegistryName}" deleted and created again?): get a new connection string with registry-admin connected-registry get-settings --name ${connectedRegistryName} --generate-password 1 and restart the agent with it`,
        slow: true,
      };
    }
    if (error.status === 401 && /wrong password|expired|invalid_grant|UNAUTHORIZED|unauthorized/.test(text)) {
      return {
        kind: "sync-password",
        advice: `the parent refused the sync token's password (regenerated since, or expired?): regenerate it with registry-admin connected-registry get-settings --name ${connectedRegistryName} --generate-password 1 and restart the agent with the new connection string (a parent connected registry learns a new password at its next sync)`,
        slow: true,
      };
    }
    if (error.status === 403 && /gateway:|DENIED/.test(text)) {
      return {
        kind: "unknown-registry",
        advice: `the parent has no connected registry "${connectedRegistryName}" that this sync token may act for: check ConnectedRegistryName=${connectedRegistryName} in the connection string (a mistyped name looks like this), or get the settings again with registry-admin connected-registry get-settings`,
        slow: true,
      };
    }
    return undefined;
  }
  if (parentProtocol === "https" && (error instanceof RemoteUnreachableError || error instanceof Error) && NOT_TLS.test(chainText(error))) {
    return {
      kind: "parent-not-tls",
      advice: "the parent does not speak TLS: get the settings with --parent-protocol http, or give the parent a certificate",
      slow: false,
    };
  }
  return undefined;
}
