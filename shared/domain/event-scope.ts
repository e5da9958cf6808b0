/**
 * Which events a webhook or a connected registry's notification asks for: ACR's scope
 * (`repo:tag`, `*` a wildcard in either part, `repo` alone meaning `repo:latest`, empty
 * meaning everything) and notification patterns (`repo:tag:action`). Pure rules, no I/O.
 */

export type EventAction = "push" | "delete";
export const EVENT_ACTIONS: readonly EventAction[] = ["push", "delete"];

/** What a scope is tested against: an event with no tag (a manifest pushed or deleted by digest) has tag "". */
export interface ScopedEvent {
  action: EventAction;
  repository: string;
  tag?: string;
  digest?: string;
}

const SCOPE = /^[a-z0-9*][a-z0-9._/*-]*(:[A-Za-z0-9_*][A-Za-z0-9._*-]{0,127})?$/;

/** Why a scope cannot be used, or undefined when it can. */
export function scopeProblem(scope: string): string | undefined {
  if (scope === "") return undefined;
  if (!SCOPE.test(scope)) {
    return `"${scope}" is not a scope: use <repository>[:<tag>] with * as a wildcard, such as hello-world:*, hello-world:v1 or *:latest (empty for every repository)`;
  }
  return undefined;
}

/** Whether `event` falls in `scope` (ACR: "foo" is "foo:latest"; "foo:*" is every tag of foo and its untagged manifests). */
export function inScope(scope: string, event: ScopedEvent): boolean {
  if (scope === "") return true;
  const colon = scope.indexOf(":");
  const repositoryPattern = colon < 0 ? scope : scope.slice(0, colon);
  const tagPattern = colon < 0 ? "latest" : scope.slice(colon + 1);
  return globMatches(repositoryPattern, event.repository) && globMatches(tagPattern, event.tag ?? "");
}

/**
 * A connected registry's notification `repo:tag:action` (shared/admin/connected-registries.ts
 * validates it); the tag part may be a digest, which matches the event's digest.
 */
export function matchesNotification(pattern: string, event: ScopedEvent): boolean {
  const last = pattern.lastIndexOf(":");
  const action = pattern.slice(last + 1);
  if (action !== "*" && action !== event.action) return false;
  const target = pattern.slice(0, last);
  const colon = target.indexOf(":");
  const repositoryPattern = colon < 0 ? target : target.slice(0, colon);
  const reference = colon < 0 ? "*" : target.slice(colon + 1);
  if (!globMatches(repositoryPattern, event.repository)) return false;
  if (reference.includes("@") || reference.startsWith("sha256")) return reference.replace(/^@/, "") === event.digest;
  return globMatches(reference, event.tag ?? "") || (event.digest !== undefined && reference === event.digest);
}

/** `*` matches any run of characters (slashes too); everything else literally. */
export function globMatches(pattern: string, value: string): boolean {
  if (pattern === "*") return true;
  const expression = new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`);
  return expression.test(value);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}
