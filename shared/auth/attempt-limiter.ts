/**
 * Counts failed logins (wrong password, unknown token name) per client address and per token
 * name, and says when the next attempt must be refused with 429 before any password is checked.
 *
 * The two limits are deliberately unequal (the reasoning is in docs/identity.md):
 * - per address, strict: an address with `perAddress` failures in its window is refused for
 *   the rest of that window, whatever name it tries;
 * - per name, it only narrows: once a name has `perName` failures in its window, attempts for
 *   it are refused from addresses that have themselves failed in their window. An address
 *   without failures (the legitimate client elsewhere) still gets its password checked, so an
 *   attacker cannot lock a user out by flooding the user's name; an attacker with many
 *   addresses gets one guess per address per window for that name.
 *
 * Windows are fixed: they start at an address's (name's) first failure and last `windowMs`.
 * State is in memory and per instance: in Azure each Functions instance limits on its own, so
 * the effective limit is the per-instance one times the instances the front end spreads a
 * client over. Memory is bounded: past MAX_ENTRIES the expired entries are swept, then the
 * oldest dropped.
 */
import { isIPv4, isIPv6 } from "node:net";

export interface AttemptLimits {
  /** How long failures count, from the first failure of an address (or name). */
  windowMs: number;
  /** Failures from one address (any token name) after which that address is refused. */
  perAddress: number;
  /** Failures for one token name (any address) after which addresses that failed are refused for it. */
  perName: number;
}

export type AttemptVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number; message: string };

interface FailureWindow {
  count: number;
  endsAt: number;
}

const MAX_ENTRIES = 100_000;

export class AttemptLimiter {
  private readonly addresses = new Map<string, FailureWindow>();
  private readonly names = new Map<string, FailureWindow>();

  constructor(
    private readonly limits: AttemptLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a login for `name` from `address` may be checked now. */
  check(name: string, address: string | undefined): AttemptVerdict {
    const now = this.now();
    const fromAddress = this.current(this.addresses, addressKey(address), now);
    const windowSeconds = Math.round(this.limits.windowMs / 1000);
    if (fromAddress && fromAddress.count >= this.limits.perAddress) {
      const retryAfterSeconds = secondsUntil(fromAddress.endsAt, now);
      return {
        allowed: false,
        retryAfterSeconds,
        message:
          `too many failed logins from ${address ?? "this client"} (${fromAddress.count} within ${windowSeconds} s); try again in ${retryAfterSeconds} s, ` +
          `and check the token name and password the client uses (a regenerated password must be updated in every client)`,
      };
    }
    const forName = this.current(this.names, name, now);
    if (forName && forName.count >= this.limits.perName && fromAddress && fromAddress.count > 0) {
      const retryAfterSeconds = secondsUntil(Math.min(forName.endsAt, fromAddress.endsAt), now);
      return {
        allowed: false,
        retryAfterSeconds,
        message:
          `token "${name}" had too many failed logins (${forName.count} within ${windowSeconds} s) and this client failed too; try again in ${retryAfterSeconds} s ` +
          `with the right password (clients that have not failed can still log in)`,
      };
    }
    return { allowed: true };
  }

  /**
   * A failed login; `name` undefined when the name is no token (nobody to protect by name).
   * Says whether this failure made the address or the name reach its limit (once per window:
   * what is worth a log line).
   */
  recordFailure(name: string | undefined, address: string | undefined): { addressLimited: boolean; nameLimited: boolean } {
    const now = this.now();
    const addressCount = this.count(this.addresses, addressKey(address), now);
    const nameCount = name !== undefined ? this.count(this.names, name, now) : 0;
    return { addressLimited: addressCount === this.limits.perAddress, nameLimited: nameCount === this.limits.perName };
  }

  private current(map: Map<string, FailureWindow>, key: string, now: number): FailureWindow | undefined {
    const window = map.get(key);
    if (!window) return undefined;
    if (window.endsAt > now) return window;
    map.delete(key);
    return undefined;
  }

  private count(map: Map<string, FailureWindow>, key: string, now: number): number {
    const window = this.current(map, key, now);
    if (window) return ++window.count;
    if (map.size >= MAX_ENTRIES) this.makeRoom(map, now);
    map.set(key, { count: 1, endsAt: now + this.limits.windowMs });
    return 1;
  }

  private makeRoom(map: Map<string, FailureWindow>, now: number): void {
    for (const [key, window] of map) if (window.endsAt <= now) map.delete(key);
    // Still full: drop the oldest windows (a Map iterates in insertion order).
    for (const key of map.keys()) {
      if (map.size < MAX_ENTRIES * 0.9) break;
      map.delete(key);
    }
  }
}

function secondsUntil(when: number, now: number): number {
  return Math.max(1, Math.ceil((when - now) / 1000));
}

/**
 * The key an address is counted under: IPv4 as is (an IPv4-mapped IPv6 address as its IPv4),
 * IPv6 by its /64, since one host commonly holds a whole /64 and could otherwise step through
 * fresh addresses. Requests whose address is unknown share one key.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return "(unknown)";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address) || !isIPv6(address)) return address;
  return `${expandIPv6(address).slice(0, 4).join(":")}::/64`;
}

function expandIPv6(address: string): string[] {
  const [head = "", tail] = address.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(missing).fill("0"), ...right].map((group) => group.toLowerCase().replace(/^0+(?=.)/, ""));
}
