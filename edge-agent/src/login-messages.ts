/**
 * What a client is told when it logs in at the edge with a token the edge does not know.
 * Before the first activation the edge knows no token at all: "does not exist" would send
 * the operator to the cloud's token list, when the edge itself is what is not ready.
 */
import type { EdgeState } from "./state.js";

export function unknownTokenMessage(tokenName: string, state: EdgeState): string {
  if (state.configuration) return `token "${tokenName}" does not exist in this registry (it is not one of connected registry "${state.connectedRegistryName ?? "?"}"'s client tokens)`;
  const lastError = state.lastError ? ` (last error: ${state.lastError})` : " (it is still trying: see connected-registry status)";
  return `this connected registry has not activated with its parent yet, so it knows no token, "${tokenName}" included${lastError}`;
}
