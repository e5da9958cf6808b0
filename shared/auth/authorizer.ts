/**
 * The question the registry engine asks before it acts: may this request do these
 * things? The answer is a Principal, which the catalog also asks what it may list.
 */
import type { AccessEntry } from "../domain/docker-scope.js";
import type { HandlerRequest } from "../http/types.js";

export interface Principal {
  /** Whether the caller may read anything from the repository (the catalog lists only those). */
  mayRead(repository: string): boolean;
  /** The token the caller authenticated with; absent for anonymous callers. */
  tokenName?: string;
  /** Which of the request's optional accesses the caller was granted (see Authorizer.authorize). */
  optionalGranted: readonly AccessEntry[];
}

export interface Authorizer {
  /**
   * Resolves when every `needed` access is allowed; throws UNAUTHORIZED (401, with the
   * challenge) or DENIED (403, Basic credentials only) otherwise. `optional` accesses are
   * used when granted and done without otherwise (a cross-repository mount's source): they
   * are named in challenges too, so a client that follows them comes back with a token
   * that carries them.
   */
  authorize(request: HandlerRequest, needed: AccessEntry[], optional?: AccessEntry[]): Promise<Principal>;
}

/** Development only: every request may do everything. */
export const anonymousAuthorizer: Authorizer = {
  async authorize(_request, _needed, optional = []) {
    return { mayRead: () => true, optionalGranted: optional };
  },
};
