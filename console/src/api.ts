/**
 * The console's only server: the management API (docs/admin-api.md), with the credential the
 * operator signed in with as `Authorization: Bearer` — the same calls and permissions as the CLI.
 * The credential lives in sessionStorage (this tab, this origin, gone when the tab closes):
 * never a cookie, never in a URL.
 */
const CREDENTIAL_KEY = "registry-console.credential";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const credential = {
  get: (): string | null => sessionStorage.getItem(CREDENTIAL_KEY),
  set: (value: string): void => sessionStorage.setItem(CREDENTIAL_KEY, value),
  clear: (): void => sessionStorage.removeItem(CREDENTIAL_KEY),
};

/** Called when the API refuses the credential: the console goes back to the sign-in form. */
let onUnauthorized: (message: string) => void = () => {};
export function whenUnauthorized(handler: (message: string) => void): void {
  onUnauthorized = handler;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown, bearer = credential.get()): Promise<T> {
  const response = await fetch(`/management/${path}`, {
    method,
    headers: { Authorization: `Bearer ${bearer ?? ""}`, Accept: "application/json", ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    cache: "no-store",
    credentials: "omit",
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    const failure = new ApiError(response.status, error?.code ?? `HTTP${response.status}`, error?.message ?? `${method} /management/${path} answered ${response.status}`);
    if (response.status === 401 && bearer === credential.get()) onUnauthorized(failure.message);
    throw failure;
  }
  return parsed as T;
}

export const segment = encodeURIComponent;
