/**
 * The user delegation key that signs read SAS URLs when the app signs in with an identity
 * (no account key: Bicep turns shared-key access off). Getting one is a call to storage,
 * so one key serves every request until it is half used up; then the next request starts a
 * renewal and, while the current key still has `minimumRemainingMs` left, keeps using it
 * instead of waiting. Concurrent callers share one request (a single promise in flight).
 *
 * Azure accepts a key valid for at most 7 days; a SAS signed with a key stops working when
 * the key expires, so a SAS never outlives the key (minimumRemainingMs must cover the SAS).
 */
import type { UserDelegationKey } from "@azure/storage-blob";

export interface DelegationKeyOptions {
  /** How long each requested key is valid (Azure: at most 7 days). */
  lifetimeMs: number;
  /** Below this remaining validity the key is not handed out: callers wait for a new one. */
  minimumRemainingMs: number;
  /** Asks storage for a key valid from `startsOn` to `expiresOn` (BlobServiceClient.getUserDelegationKey). */
  fetchKey(startsOn: Date, expiresOn: Date): Promise<UserDelegationKey>;
  now?: () => number;
}

/** Start a few minutes back: storage's clock may be behind ours. */
const CLOCK_SKEW_MS = 5 * 60_000;
const MAX_LIFETIME_MS = 7 * 24 * 3600_000;

export class DelegationKeyCache {
  private key: UserDelegationKey | undefined;
  private renewal: Promise<UserDelegationKey> | undefined;
  private readonly now: () => number;
  /** Keys fetched so far (for tests and the benchmark). */
  fetches = 0;

  constructor(private readonly options: DelegationKeyOptions) {
    if (options.lifetimeMs > MAX_LIFETIME_MS) throw new Error("a user delegation key is valid for at most 7 days");
    if (options.minimumRemainingMs >= options.lifetimeMs / 2) throw new Error("minimumRemainingMs must be under half the key's lifetime");
    this.now = options.now ?? Date.now;
  }

  async current(): Promise<UserDelegationKey> {
    const remaining = this.key ? this.key.signedExpiresOn.getTime() - this.now() : 0;
    if (this.key && remaining > this.options.lifetimeMs / 2) return this.key;
    const renewal = this.renew();
    if (this.key && remaining > this.options.minimumRemainingMs) {
      // The old key still covers a SAS: renew in the background; a failure is retried by the next caller.
      renewal.catch(() => undefined);
      return this.key;
    }
    return renewal;
  }

  private renew(): Promise<UserDelegationKey> {
    this.renewal ??= (async () => {
      const now = this.now();
      this.fetches++;
      try {
        const key = await this.options.fetchKey(new Date(now - CLOCK_SKEW_MS), new Date(now + this.options.lifetimeMs));
        this.key = key;
        return key;
      } finally {
        this.renewal = undefined;
      }
    })();
    return this.renewal;
  }
}
