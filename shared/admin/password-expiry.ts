/**
 * The `expire-token-passwords` timer: removes the hashes of passwords past their expiry from
 * their tokens. Such a password is already refused at every check (token-directory.ts); this
 * keeps expired secrets' hashes from lingering in storage and in edges' configurations.
 * Idempotent, safe on several instances (etag-checked replaces), bounded per run.
 */
import type { IdentityStore } from "../store/identity-store.js";
import { retryOnConflict } from "../store/optimistic-update.js";

export async function removeExpiredPasswords(identity: IdentityStore, now: Date, limit: number, log: (message: string) => void): Promise<number> {
  const expired = (password: { expiry?: string }): boolean => password.expiry !== undefined && Date.parse(password.expiry) <= now.getTime();
  const candidates = (await identity.listTokens()).filter((token) => token.passwords.some(expired)).slice(0, limit);
  let removed = 0;
  for (const candidate of candidates) {
    await retryOnConflict(10, async () => {
      const token = await identity.getToken(candidate.name);
      if (!token || !token.passwords.some(expired)) return token;
      const kept = token.passwords.filter((password) => !expired(password));
      removed += token.passwords.length - kept.length;
      return identity.replaceToken({ ...token, passwords: kept, updatedAt: now.toISOString() });
    });
  }
  log(`expire-token-passwords: removed ${removed} expired password${removed === 1 ? "" : "s"} from ${candidates.length} token${candidates.length === 1 ? "" : "s"}`);
  return removed;
}
