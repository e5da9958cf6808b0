/**
 * What can go wrong, and the exit code each maps to. Scripts may rely on these codes:
 * 0 ok, 1 the API (or the registry) refused, 2 a usage error, 3 the endpoint cannot be reached.
 */
export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;

/** A bad command line: an unknown verb or flag, a missing required flag, a bad value. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose `--help` explains the fix, e.g. "scope-map create". */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** The management API or the registry answered with an error (or an import ended Failed). */
export class ApiError extends Error {
  constructor(
    /** The HTTP status; 0 for a failed operation reported by a 200 answer. */
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** No answer from the endpoint: refused connection, unknown host, TLS failure, timeout. */
export class UnreachableError extends Error {}
