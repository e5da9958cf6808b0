/**
 * Scope-map actions as ACR writes them:
 *   repositories/<pattern>/<content|metadata>/<read|write|delete>
 *   gateway/<connected-registry>/<config|message>/<read|write>
 * A repository pattern is a repository name, a name followed by "/*" (every repository
 * under it, existing or not), or "*" (every repository).
 */
import { isValidRepositoryName } from "./names.js";

export const REPOSITORY_ACTIONS = ["content/read", "content/write", "content/delete", "metadata/read", "metadata/write"] as const;
export type RepositoryAction = (typeof REPOSITORY_ACTIONS)[number];

export const GATEWAY_ACTIONS = ["config/read", "config/write", "message/read", "message/write"] as const;
export type GatewayAction = (typeof GATEWAY_ACTIONS)[number];

export type ScopeMapAction =
  | { kind: "repository"; pattern: string; action: RepositoryAction }
  | { kind: "gateway"; connectedRegistry: string; action: GatewayAction };

export type ParseResult = { ok: true; action: ScopeMapAction } | { ok: false; message: string };

const connectedRegistryName = /^[a-zA-Z0-9]{5,50}$/;

export function isValidRepositoryPattern(pattern: string): boolean {
  if (pattern === "*") return true;
  const name = pattern.endsWith("/*") ? pattern.slice(0, -2) : pattern;
  return isValidRepositoryName(name);
}

export function parseScopeMapAction(text: string): ParseResult {
  const segments = text.split("/");
  const verb = segments.slice(-2).join("/");
  if (segments[0] === "repositories" && segments.length >= 4) {
    if (!(REPOSITORY_ACTIONS as readonly string[]).includes(verb)) {
      return { ok: false, message: `Invalid action "${verb}" in "${text}": use one of ${REPOSITORY_ACTIONS.join(", ")}` };
    }
    const pattern = segments.slice(1, -2).join("/");
    if (!isValidRepositoryPattern(pattern)) {
      return {
        ok: false,
        message: `Invalid repository "${pattern}" in "${text}": use a repository name, a name followed by /* for everything under it, or * for every repository`,
      };
    }
    return { ok: true, action: { kind: "repository", pattern, action: verb as RepositoryAction } };
  }
  if (segments[0] === "gateway" && segments.length === 4) {
    if (!(GATEWAY_ACTIONS as readonly string[]).includes(verb)) {
      return { ok: false, message: `Invalid action "${verb}" in "${text}": use one of ${GATEWAY_ACTIONS.join(", ")}` };
    }
    const connectedRegistry = segments[1]!;
    if (!connectedRegistryName.test(connectedRegistry)) {
      return { ok: false, message: `Invalid connected registry "${connectedRegistry}" in "${text}": 5-50 letters and digits` };
    }
    return { ok: true, action: { kind: "gateway", connectedRegistry, action: verb as GatewayAction } };
  }
  return {
    ok: false,
    message: `Invalid action "${text}": expected repositories/<repository>/<content|metadata>/<read|write|delete> or gateway/<connected-registry>/<config|message>/<read|write>`,
  };
}

export function formatScopeMapAction(action: ScopeMapAction): string {
  return action.kind === "repository" ? `repositories/${action.pattern}/${action.action}` : `gateway/${action.connectedRegistry}/${action.action}`;
}
