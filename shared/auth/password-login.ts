/**
 * A login with a token name and password, as the token server and Basic auth on /v2/ both
 * take it: first the attempt limiter (a refused attempt costs no scrypt), then the token
 * directory's check, then the failure is counted. Refusals carry Retry-After seconds; the
 * callers render them as their protocol's 429.
 *
 * A refusal by the limiter is answered after `refusalDelayMs` (at most its Retry-After). A
 * refusal costs little, but an attacker that ignores Retry-After sends the next one at once:
 * 16 connections got ~10,000 refusals a second out of the edge, a whole core, and a legitimate
 * pull waited behind them. Held for a second, those connections send 16 a second. At most
 * MAX_HELD refusals are held at once (each holds a socket and a timer); beyond that they are
 * answered at once.
 */
import type { AttemptLimiter } from "./attempt-limiter.js";
import { PasswordChecksBusyError } from "./password-check-pool.js";
import type { CredentialCheck, TokenDirectory } from "./token-directory.js";

export type LoginResult = CredentialCheck | { ok: false; reason: "throttled" | "busy"; message: string; retryAfterSeconds: number };

export interface PasswordLoginOptions {
  /** How long a refusal by the limiter is held before it is answered; 0 answers at once. */
  refusalDelayMs: number;
  /**
   * Told when an address or a token name reaches its limit (once per window, not per refusal,
   * so a flood does not flood the log): the operator's clue to a misconfigured client or an
   * attack. Never given a password.
   */
  warn?: (message: string, fields: Record<string, unknown>) => void;
}

const MAX_HELD = 256;

export class PasswordLogin {
  private held = 0;

  constructor(
    private readonly directory: TokenDirectory,
    private readonly limiter: AttemptLimiter,
    private readonly options: PasswordLoginOptions,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** `fresh`: read the token from the store now (the token server) rather than from the cache. */
  async check(name: string, password: string, address: string | undefined, fresh: boolean): Promise<LoginResult> {
    const verdict = this.limiter.check(name, address);
    if (!verdict.allowed) {
      await this.hold(Math.min(this.options.refusalDelayMs, verdict.retryAfterSeconds * 1000));
      return { ok: false, reason: "throttled", message: verdict.message, retryAfterSeconds: verdict.retryAfterSeconds };
    }
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
    if (!check.ok && (check.reason === "wrong-password" || check.reason === "unknown")) {
      const reached = this.limiter.recordFailure(check.reason === "unknown" ? undefined : name, address);
      if (reached.addressLimited) {
        this.options.warn?.("failed-login limit reached by a client address: its logins get 429 until its window ends", { clientAddress: address ?? "(unknown)", tokenName: name });
      }
      if (reached.nameLimited) {
        this.options.warn?.("failed-login limit reached for a token name: addresses that failed get 429 for it until its window ends", { tokenName: name, clientAddress: address ?? "(unknown)" });
      }
    }
    return check;
  }

  private async hold(ms: number): Promise<void> {
    if (ms <= 0 || this.held >= MAX_HELD) return;
    this.held++;
    try {
      await this.sleep(ms);
    } finally {
      this.held--;
    }
  }
}
