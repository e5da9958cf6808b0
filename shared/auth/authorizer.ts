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
}

export interface Authorizer {
  /** Resolves when every access is allowed; throws UNAUTHORIZED (401) or DENIED (403) otherwise. */
  authorize(request: HandlerRequest, access: AccessEntry[]): Promise<Principal>;
}

export const everything: Principal = { mayRead: () => true };

/** Development only: every request may do everything. */
export const anonymousAuthorizer: Authorizer = {
  async authorize() {
    return everything;
  },
};
