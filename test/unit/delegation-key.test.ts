import { describe, expect, it } from "vitest";
import type { UserDelegationKey } from "@azure/storage-blob";
import { DelegationKeyCache } from "../../shared/store/azure-blob/delegation-key.js";

const HOUR = 3600_000;

/** A fake storage that hands out keys valid for what was asked, and counts the calls. */
function fakeStorage(clock: { now: number }) {
  const calls: Array<{ startsOn: Date; expiresOn: Date }> = [];
  let fail = false;
  let release: (() => void) | undefined;
  const fetchKey = async (startsOn: Date, expiresOn: Date): Promise<UserDelegationKey> => {
    calls.push({ startsOn, expiresOn });
    if (release === undefined) await new Promise<void>((resolve) => setImmediate(resolve));
    if (fail) throw new Error("storage is down");
    return { signedObjectId: "o", signedTenantId: "t", signedStartsOn: startsOn, signedExpiresOn: expiresOn, signedService: "b", signedVersion: "v", value: `key-${calls.length}` };
  };
  return { calls, fetchKey, setFailing: (value: boolean) => (fail = value), clock };
}

describe("the user delegation key cache", () => {
  it("asks storage once for many concurrent callers, and reuses the key while more than half its life remains", async () => {
    const clock = { now: Date.parse("2026-12-01T00:00:00Z") };
    const storage = fakeStorage(clock);
    const cache = new DelegationKeyCache({ lifetimeMs: 24 * HOUR, minimumRemainingMs: HOUR, fetchKey: storage.fetchKey, now: () => clock.now });
    const keys = await Promise.all(Array.from({ length: 20 }, () => cache.current()));
    expect(new Set(keys.map((key) => key.value))).toEqual(new Set(["key-1"]));
    expect(storage.calls).toHaveLength(1);
    // Valid from a little before now (clock skew) for the configured lifetime.
    expect(storage.calls[0]!.startsOn.getTime()).toBeLessThan(clock.now);
    expect(storage.calls[0]!.expiresOn.getTime()).toBe(clock.now + 24 * HOUR);
    clock.now += 11 * HOUR;
    expect((await cache.current()).value).toBe("key-1");
    expect(storage.calls).toHaveLength(1);
  });

  it("renews in the background once half used, serving the old key meanwhile, and the new one after", async () => {
    const clock = { now: Date.parse("2026-12-01T00:00:00Z") };
    const storage = fakeStorage(clock);
    const cache = new DelegationKeyCache({ lifetimeMs: 24 * HOUR, minimumRemainingMs: HOUR, fetchKey: storage.fetchKey, now: () => clock.now });
    await cache.current();
    clock.now += 13 * HOUR;
    const during = await Promise.all([cache.current(), cache.current(), cache.current()]);
    expect(during.map((key) => key.value)).toEqual(["key-1", "key-1", "key-1"]);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(storage.calls).toHaveLength(2);
    expect((await cache.current()).value).toBe("key-2");
  });

  it("never hands out a key too close to its expiry: callers wait for the new one, and a failed renewal is retried", async () => {
    const clock = { now: Date.parse("2026-12-01T00:00:00Z") };
    const storage = fakeStorage(clock);
    const cache = new DelegationKeyCache({ lifetimeMs: 24 * HOUR, minimumRemainingMs: HOUR, fetchKey: storage.fetchKey, now: () => clock.now });
    await cache.current();
    clock.now += 23.5 * HOUR;
    storage.setFailing(true);
    await expect(cache.current()).rejects.toThrow("storage is down");
    storage.setFailing(false);
    const key = await cache.current();
    expect(key.value).toBe("key-3");
    expect(key.signedExpiresOn.getTime()).toBe(clock.now + 24 * HOUR);
  });

  it("refuses a lifetime Azure would refuse, and a minimum that leaves no room to renew", () => {
    const fetchKey = async (): Promise<UserDelegationKey> => {
      throw new Error("unused");
    };
    expect(() => new DelegationKeyCache({ lifetimeMs: 8 * 24 * HOUR, minimumRemainingMs: HOUR, fetchKey })).toThrow("at most 7 days");
    expect(() => new DelegationKeyCache({ lifetimeMs: 2 * HOUR, minimumRemainingMs: HOUR, fetchKey })).toThrow("under half");
  });
});
