/**
 * A login with a token name and password, as the token server and Basic auth on /v2/ both
 * take it: first the attempt limiter (a refused attempt costs no scrypt), then the token
 * directory's check, then the failure is counted. Refusals carry Retry-After seconds; the
 * callers render them as their protocol's 429.
 */
import type { AttemptLimiter } from "./attempt-limiter.js";
import { PasswordChecksBusyError } from "./password-check-pool.js";
import type { CredentialCheck, TokenDirectory } from "./token-directory.js";

export type LoginResult = CredentialCheck | { ok: false; reason: "throttled" | "busy"; message: string; retryAfterSeconds: number };

export class PasswordLogin {
  constructor(
    private readonly directory: TokenDirectory,
    private readonly limiter: AttemptLimiter,
  ) {}

  /** `fresh`: read the token from the store now (the token server) rather than from the cache. */
  async check(name: string, password: string, address: string | undefined, fresh: boolean): Promise<LoginResult> {
    const verdict = this.limiter.check(name, address);
    if (!verdict.allowed) return { ok: false, reason: "throttled", message: verdict.message, retryAfterSeconds: verdict.retryAfterSeconds };
    let check: CredentialCheck;
    try {
      check = await this.directory.checkCredentials(name, password, fresh);
    } catch (error) {
      if (!(error instanceof PasswordChecksBusyError)) throw error;
      return {
        ok: false,
        reason: "busy",
        message: `the registry is checking too many passwords right now; try again in ${error.retryAfterSeconds} s`,
        retryAfterSeconds: error.retryAfterSeconds,
      };
    }
    // Guesses count; a disabled token or an expired (but right) password is no guess.
    if (!check.ok && check.reason === "wrong-password") this.limiter.recordFailure(name, address);
    if (!check.ok && check.reason === "unknown") this.limiter.recordFailure(undefined, address);
    return check;
  }
}
