/**
 * Client tokens: the only tokens that may log in at a connected registry. The edge
 * receives their scope maps and password verifiers in the handshake and authenticates
 * clients offline with them, which is why the list is short.
 */
import { isValidIdentityName } from "../identity-names.js";

/** ACR's limit per connected registry. */
export const MAX_CLIENT_TOKENS = 20;

export interface ClientTokenChanges {
  addClientTokens?: readonly string[] | undefined;
  removeClientTokens?: readonly string[] | undefined;
}

export type ClientTokensResult = { ok: true; clientTokens: string[] } | { ok: false; message: string };

/**
 * The client token list after an update. Duplicates collapse; removing a token that is
 * not in the list changes nothing, so a retried update gives the same result. The order
 * of the current list is kept and additions follow it.
 */
export function applyClientTokenChanges(current: readonly string[], change: ClientTokenChanges): ClientTokensResult {
  const added = change.addClientTokens ?? [];
  const removed = new Set(change.removeClientTokens ?? []);
  const invalid = [...new Set([...added, ...removed])].filter((token) => !isValidIdentityName(token));
  if (invalid.length > 0) return { ok: false, message: `invalid client token name ${quoted(invalid)}: 5-50 letters, digits, - and _` };
  const both = [...new Set(added.filter((token) => removed.has(token)))];
  if (both.length > 0) {
    return { ok: false, message: `client token ${quoted(both)} cannot be both added and removed in one update` };
  }
  const clientTokens = [...new Set([...current, ...added])].filter((token) => !removed.has(token));
  if (clientTokens.length > MAX_CLIENT_TOKENS) {
    return {
      ok: false,
      message: `a connected registry may have at most ${MAX_CLIENT_TOKENS} client tokens; this would give it ${clientTokens.length}`,
    };
  }
  return { ok: true, clientTokens };
}

/** The `clientTokens` of a create request: the same rules as adding them to an empty list. */
export function validateClientTokens(clientTokens: readonly string[]): ClientTokensResult {
  return applyClientTokenChanges([], { addClientTokens: clientTokens });
}

function quoted(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(", ");
}
