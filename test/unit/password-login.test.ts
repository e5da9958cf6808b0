/** A login through the attempt limiter (shared/auth/password-login.ts): what is counted, and how long a refusal is held. */
import { describe, expect, it } from "vitest";
import { AttemptLimiter } from "../../shared/auth/attempt-limiter.js";
import { hashPassword } from "../../shared/auth/passwords.js";
import { PasswordLogin } from "../../shared/auth/password-login.js";
import { TokenDirectory } from "../../shared/auth/token-directory.js";
import type { IdentityStore, TokenRecord } from "../../shared/store/identity-store.js";

const PASSWORD = "correct horse battery staple";
const token = (name: string, status: TokenRecord["status"], hash: string, expiry?: string): TokenRecord => ({
  name,
  scopeMap: "_repositories_pull",
  status,
  passwords: [{ name: "password1", hash, createdAt: "2026-01-01T00:00:00.000Z", ...(expiry ? { expiry } : {}) }],
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
});
const hash = await hashPassword(PASSWORD);
const tokens = new Map([
  ["reader", token("reader", "enabled", hash)],
  ["off", token("off", "disabled", hash)],
  ["old", token("old", "enabled", hash, "2020-01-01T00:00:00.000Z")],
]);
const store = { getToken: async (name: string) => tokens.get(name) } as unknown as IdentityStore;

function login(refusalDelayMs: number) {
  const clock = { now: Date.parse("2026-06-01T00:00:00Z") };
  const slept: number[] = [];
  const warnings: Array<{ message: string; fields: Record<string, unknown> }> = [];
  const limiter = new AttemptLimiter({ windowMs: 30_000, perAddress: 2, perName: 3 }, () => clock.now);
  const warn = (message: string, fields: Record<string, unknown>): void => void warnings.push({ message, fields });
  const subject = new PasswordLogin(new TokenDirectory(store, 1_000, () => clock.now), limiter, { refusalDelayMs, warn }, async (ms) => {
    slept.push(ms);
  });
  return { clock, slept, warnings, subject };
}

describe("password login", () => {
  it("counts wrong passwords and unknown names, not disabled tokens or expired passwords", async () => {
    const { subject } = login(0);
    expect(await subject.check("off", PASSWORD, "192.0.2.1", true)).toMatchObject({ reason: "disabled" });
    expect(await subject.check("old", PASSWORD, "192.0.2.1", true)).toMatchObject({ reason: "expired" });
    expect(await subject.check("reader", PASSWORD, "192.0.2.1", true)).toMatchObject({ ok: true });
    expect(await subject.check("nobody", PASSWORD, "192.0.2.1", true)).toMatchObject({ reason: "unknown" });
    expect(await subject.check("reader", "wrong", "192.0.2.1", true)).toMatchObject({ reason: "wrong-password" });
    expect(await subject.check("reader", PASSWORD, "192.0.2.1", true)).toMatchObject({ ok: false, reason: "throttled", retryAfterSeconds: 30 });
  });

  it("holds a refusal for the refusal delay, never longer than its Retry-After, and never holds a check", async () => {
    const { clock, slept, subject } = login(5_000);
    await subject.check("reader", "wrong", "192.0.2.1", true);
    await subject.check("reader", "wrong-2", "192.0.2.1", true);
    expect(slept).toEqual([]);
    await subject.check("reader", "wrong-3", "192.0.2.1", true);
    clock.now += 29_500;
    await subject.check("reader", "wrong-4", "192.0.2.1", true);
    expect(slept).toEqual([5_000, 1_000]);
    const { slept: none, subject: immediate } = login(0);
    for (let i = 0; i < 3; i++) await immediate.check("reader", `wrong-${i}`, "192.0.2.1", true);
    expect(none).toEqual([]);
  });

  it("warns once when an address and when a name reach their limits, without the password", async () => {
    const { warnings, subject } = login(0);
    await subject.check("reader", "guess-1", "192.0.2.1", true);
    await subject.check("reader", "guess-2", "192.0.2.1", true);
    await subject.check("reader", "guess-3", "192.0.2.1", true);
    await subject.check("reader", "guess-4", "192.0.2.2", true);
    await subject.check("reader", "guess-5", "192.0.2.3", true);
    expect(warnings.map((w) => [w.message.split(":")[0], w.fields.clientAddress])).toEqual([
      ["failed-login limit reached by a client address", "192.0.2.1"],
      ["failed-login limit reached for a token name", "192.0.2.2"],
    ]);
    expect(JSON.stringify(warnings)).not.toMatch(/guess/);
  });
});
