/** Failed-login limits per client address and per token name (shared/auth/attempt-limiter.ts), on a controlled clock. */
import { describe, expect, it } from "vitest";
import { AttemptLimiter, addressKey } from "../../shared/auth/attempt-limiter.js";

function limiterAt(start = 1_000_000) {
  const clock = { now: start };
  const limiter = new AttemptLimiter({ windowMs: 60_000, perAddress: 3, perName: 5 }, () => clock.now);
  return { clock, limiter };
}

describe("attempt limiter", () => {
  it("refuses an address after its failures reach the limit, whatever name it tries, until its window ends", () => {
    const { clock, limiter } = limiterAt();
    for (let i = 0; i < 3; i++) {
      expect(limiter.check("reader", "192.0.2.1").allowed).toBe(true);
      limiter.recordFailure("reader", "192.0.2.1");
      clock.now += 1_000;
    }
    const refused = limiter.check("someone-else", "192.0.2.1");
    expect(refused).toMatchObject({ allowed: false, retryAfterSeconds: 57 });
    expect(refused.allowed === false && refused.message).toMatch(/too many failed logins from 192\.0\.2\.1 .*try again in 57 s/);
    expect(limiter.check("reader", "192.0.2.2").allowed).toBe(true);
    clock.now += 57_000;
    expect(limiter.check("reader", "192.0.2.1").allowed).toBe(true);
  });

  it("under a flood of one name, refuses addresses that failed but still checks an address that has not", () => {
    const { limiter } = limiterAt();
    // Five attackers, one failure each: no address reaches its own limit.
    for (let i = 1; i <= 5; i++) limiter.recordFailure("reader", `198.51.100.${i}`);
    const attacker = limiter.check("reader", "198.51.100.1");
    expect(attacker.allowed).toBe(false);
    expect(attacker.allowed === false && attacker.message).toMatch(/token "reader" had too many failed logins .*clients that have not failed can still log in/);
    expect(limiter.check("reader", "203.0.113.9").allowed).toBe(true);
    // Other names are not affected for the attackers.
    expect(limiter.check("writer", "198.51.100.1").allowed).toBe(true);
  });

  it("counts a failure for no name (an unknown token) against the address only", () => {
    const { limiter } = limiterAt();
    for (let i = 0; i < 5; i++) limiter.recordFailure(undefined, `198.51.100.${i}`);
    expect(limiter.check("reader", "198.51.100.1").allowed).toBe(true);
  });

  it("forgets a name's failures when its window ends", () => {
    const { clock, limiter } = limiterAt();
    for (let i = 1; i <= 5; i++) limiter.recordFailure("reader", `198.51.100.${i}`);
    clock.now += 60_000;
    limiter.recordFailure("reader", "198.51.100.1");
    expect(limiter.check("reader", "198.51.100.1").allowed).toBe(true);
  });

  it("counts IPv4-mapped addresses as their IPv4 and IPv6 addresses by their /64", () => {
    expect(addressKey("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(addressKey("2001:db8:1:2:aaaa::1")).toBe(addressKey("2001:0db8:0001:0002:bbbb:cccc:dddd:eeee"));
    expect(addressKey("2001:db8:1:2::1")).not.toBe(addressKey("2001:db8:1:3::1"));
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey(undefined)).toBe("(unknown)");
  });
});
