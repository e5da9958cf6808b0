/**
 * The question the registry engine asks before it acts: may this request do these
 * things? The token server (identity issue) provides the real answer; until then a
 * setting chooses between allowing anonymous access and refusing everything.
 */
import { RegistryError } from "../registry/errors.js";
import type { HandlerRequest } from "../http/types.js";

/** One entry of a Docker token-auth scope: `repository:<name>:pull,push`. */
export interface AccessRequest {
  type: "repository" | "registry";
  name: string;
  actions: Array<"pull" | "push" | "delete" | "*">;
}

export interface Authorizer {
  /** Resolves when every access is allowed; throws UNAUTHORIZED or DENIED otherwise. */
  authorize(request: HandlerRequest, access: AccessRequest[]): Promise<void>;
}

export const anonymousAuthorizer: Authorizer = {
  async authorize() {},
};

/** Refuses every request: used when anonymous access is off and no token server exists yet. */
export const refusingAuthorizer: Authorizer = {
  async authorize() {
    throw new RegistryError(
      "UNAUTHORIZED",
      "authentication required: this registry does not allow anonymous access and has no token server yet; set REGISTRY_ALLOW_ANONYMOUS=true to open it",
    );
  },
};
