/**
 * The token directory's cache must not refuse a password generated a moment ago (issue 16:
 * a new child right after get-settings logged "401 wrong password" twice): a refusal from a
 * cached state is confirmed against the store, at most once a second per name.
 */
import { describe, expect, it } from "vitest";
import { hashPassword } from "../../shared/auth/passwords.js";
import { TokenDirectory } from "../../shared/auth/token-directory.js";
import type { IdentityStore, TokenRecord } from "../../shared/store/identity-store.js";

const OLD = "old password that was replaced";
const NEW = "new password from get-settings";
const [oldHash, newHash] = await Promise.all([hashPassword(OLD), hashPassword(NEW)]);

function setup() {
  const clock = { now: Date.parse("2026-06-01T00:00:00Z") };
  const tokens = new Map<string, TokenRecord>();
  let reads = 0;
  const store = {
    getToken: async (name: string) => {
      reads += 1;
      return tokens.get(name);
    },
  } as unknown as IdentityStore;
  const token = (name: string, hash: string): TokenRecord => ({
    name,
    scopeMap: "_repositories_pull",
    status: "enabled",
    passwords: [{ name: "password1", hash, createdAt: "2026-01-01T00:00:00.000Z" }],
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
  });
  const directory = new TokenDirectory(store, 30_000, () => clock.now, { refusedPairMs: 10_000 });
  return { clock, tokens, token, directory, reads: () => reads };
}

describe("token directory: a refusal from the cache is checked against the store", () => {
  it("accepts a password generated after the token was cached, within the cache's lifetime", async () => {
    const { tokens, token, directory, reads } = setup();
    tokens.set("child-sync-token", token("child-sync-token", oldHash));
    expect(await directory.checkCredentials("child-sync-token", OLD, false)).toMatchObject({ ok: true });
    tokens.set("child-sync-token", token("child-sync-token", newHash));
    expect(await directory.checkCredentials("child-sync-token", NEW, false)).toMatchObject({ ok: true });
    expect(reads()).toBe(2);
    // The old password stays accepted from the cache until it expires: the revocation bound is unchanged.
    expect(await directory.checkCredentials("child-sync-token", OLD, false)).toMatchObject({ ok: false });
  });

  it("accepts a token created after its absence was cached", async () => {
    const { tokens, token, directory } = setup();
    expect(await directory.checkCredentials("newtoken", NEW, false)).toMatchObject({ ok: false, reason: "unknown" });
    tokens.set("newtoken", token("newtoken", newHash));
    expect(await directory.checkCredentials("newtoken", NEW, false)).toMatchObject({ ok: true });
  });

  it("reads the store at most once a second per name for repeated wrong passwords", async () => {
    const { clock, tokens, token, directory, reads } = setup();
    tokens.set("reader", token("reader", oldHash));
    await directory.checkCredentials("reader", OLD, false);
    for (let i = 0; i < 20; i++) expect(await directory.checkCredentials("reader", "wrong", false)).toMatchObject({ ok: false, reason: "wrong-password" });
    expect(reads()).toBe(2);
    clock.now += 1_000;
    await directory.checkCredentials("reader", "wrong", false);
    expect(reads()).toBe(3);
  });

  it("says what the edge wants said of an unknown token", async () => {
    const { directory } = setup();
    const custom = new TokenDirectory({ getToken: async () => undefined } as unknown as IdentityStore, 30_000, Date.now, { unknownTokenMessage: (name) => `not activated yet, so no "${name}"` });
    expect(await custom.checkCredentials("shopfloor", "x", true)).toEqual({ ok: false, reason: "unknown", message: 'not activated yet, so no "shopfloor"' });
    expect(await directory.checkCredentials("shopfloor", "x", true)).toMatchObject({ message: 'token "shopfloor" does not exist in this registry' });
  });
});
