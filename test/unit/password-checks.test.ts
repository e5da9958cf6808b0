/**
 * Password checks on the data plane: the bounded pool of scrypt threads
 * (shared/auth/password-check-pool.ts) and the token directory's short memory of refused
 * pairs (shared/auth/token-directory.ts). Real scrypt, real worker threads; time only
 * through the directory's injected clock.
 */
import { afterAll, describe, expect, it } from "vitest";
import { generatePassword, hashGeneratedPassword, hashPassword, verifyPassword } from "../../shared/auth/passwords.js";
import { PasswordCheckPool, PasswordChecksBusyError } from "../../shared/auth/password-check-pool.js";
import { TokenDirectory } from "../../shared/auth/token-directory.js";
import type { IdentityStore, TokenRecord } from "../../shared/store/identity-store.js";

const PASSWORD = "correct horse battery staple";
const stored = await hashPassword(PASSWORD);

describe("password check pool", () => {
  const pool = new PasswordCheckPool({ workers: 1, maxQueue: 1 });
  afterAll(() => pool.close());

  it("verifies the right password and refuses a wrong one and a malformed hash", async () => {
    expect(await pool.verify(PASSWORD, stored)).toBe(true);
    expect(await pool.verify(`${PASSWORD}!`, stored)).toBe(false);
    expect(await pool.verify(PASSWORD, "scrypt$16384$8$1$c2FsdA==$dG9vc2hvcnQ=")).toBe(false);
    // A cost scrypt refuses (not a power of two): no match, and the worker lives on.
    expect(await pool.verify(PASSWORD, stored.replace("scrypt$16384$", "scrypt$1000$"))).toBe(false);
    expect(await pool.verify(PASSWORD, stored)).toBe(true);
  });

  it("runs one check per worker, queues up to maxQueue and refuses beyond with a Retry-After", async () => {
    const running = pool.verify(PASSWORD, stored);
    const queued = pool.verify("wrong", stored);
    expect(pool.load).toEqual({ running: 1, waiting: 1 });
    const refused = pool.verify(PASSWORD, stored);
    await expect(refused).rejects.toBeInstanceOf(PasswordChecksBusyError);
    await expect(refused).rejects.toMatchObject({ retryAfterSeconds: 1 });
    expect(await running).toBe(true);
    expect(await queued).toBe(false);
    expect(pool.load).toEqual({ running: 0, waiting: 0 });
  });
});

describe("generated passwords: the fast form", () => {
  const generated = generatePassword();
  const fast = hashGeneratedPassword(generated);

  it("stores a salted SHA-256 that verifies the password and nothing else", async () => {
    expect(fast).toMatch(/^sha256\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}$/);
    expect(fast).not.toContain(generated);
    // Salted: the same password twice gives two different stored forms.
    expect(hashGeneratedPassword(generated)).not.toBe(fast);
    expect(await verifyPassword(generated, fast)).toBe(true);
    expect(await verifyPassword(`${generated}x`, fast)).toBe(false);
    expect(await verifyPassword(generated.slice(0, -1), fast)).toBe(false);
    const [, salt, digest] = fast.split("$");
    const otherSalt = Buffer.from(salt!, "base64").map((b) => b ^ 1).toString("base64");
    expect(await verifyPassword(generated, `sha256$${otherSalt}$${digest}`)).toBe(false);
    for (const malformed of ["sha256$", `sha256$${salt}`, `sha256$$${digest}`, `sha256$${salt}$${digest}$x`, `sha256$${salt}$dG9vc2hvcnQ=`]) {
      expect(await verifyPassword(generated, malformed)).toBe(false);
    }
  });

  it("refuses to store a password that may be a person's choice without scrypt", () => {
    expect(() => hashGeneratedPassword("correct horse battery staple")).toThrow(/only a generated password/);
  });

  it("is checked by the pool at once, without a worker thread, while scrypt hashes still take one", async () => {
    const pool = new PasswordCheckPool({ workers: 1, maxQueue: 0 });
    try {
      const slow = pool.verify(PASSWORD, stored);
      expect(pool.load).toEqual({ running: 1, waiting: 0 });
      // The only worker is busy and no check may wait, yet the fast form is answered.
      expect(await pool.verify(generated, fast)).toBe(true);
      expect(await pool.verify("wrong", fast)).toBe(false);
      await expect(pool.verify(PASSWORD, stored)).rejects.toBeInstanceOf(PasswordChecksBusyError);
      expect(await slow).toBe(true);
    } finally {
      await pool.close();
    }
  });
});

describe("token directory: refused pairs", () => {
  const token: TokenRecord = {
    name: "reader",
    scopeMap: "_repositories_pull",
    status: "enabled",
    passwords: [{ name: "password1", hash: stored, createdAt: "2026-01-01T00:00:00.000Z" }],
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
  };
  const store = { getToken: async (name: string) => (name === token.name ? token : undefined) } as unknown as IdentityStore;

  function directoryCountingChecks() {
    const clock = { now: Date.parse("2026-06-01T00:00:00Z") };
    const checked: string[] = [];
    const pool = new PasswordCheckPool({ workers: 1, maxQueue: 8 });
    const directory = new TokenDirectory(store, 30_000, () => clock.now, {
      verify: (password, hash) => {
        checked.push(password);
        return pool.verify(password, hash);
      },
      refusedPairMs: 5_000,
    });
    return { clock, checked, directory, pool };
  }

  it("refuses the same wrong password again without running scrypt, until the refusal expires", async () => {
    const { clock, checked, directory, pool } = directoryCountingChecks();
    expect(await directory.checkCredentials("reader", "wrong", true)).toMatchObject({ ok: false, reason: "wrong-password" });
    expect(await directory.checkCredentials("reader", "wrong", true)).toMatchObject({ ok: false, reason: "wrong-password" });
    expect(checked).toEqual(["wrong"]);
    clock.now += 5_000;
    expect(await directory.checkCredentials("reader", "wrong", true)).toMatchObject({ ok: false, reason: "wrong-password" });
    expect(checked).toEqual(["wrong", "wrong"]);
    await pool.close();
  });

  it("still checks another password, and accepts the right one (then from memory)", async () => {
    const { checked, directory, pool } = directoryCountingChecks();
    await directory.checkCredentials("reader", "wrong", true);
    expect(await directory.checkCredentials("reader", PASSWORD, true)).toMatchObject({ ok: true });
    expect(await directory.checkCredentials("reader", PASSWORD, true)).toMatchObject({ ok: true });
    expect(checked).toEqual(["wrong", PASSWORD]);
    await pool.close();
  });
});
