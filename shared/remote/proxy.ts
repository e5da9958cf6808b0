/**
 * The outbound proxy an edge agent must use to reach its parent, read from the environment as
 * curl and undici read it: `HTTPS_PROXY` for https origins, `HTTP_PROXY` for http ones (and for
 * https ones when `HTTPS_PROXY` is unset, as undici's EnvHttpProxyAgent does), `NO_PROXY` for the
 * hosts reached directly; the lowercase forms win over the uppercase ones.
 *
 * The decision is made here rather than inside undici's EnvHttpProxyAgent so that the client
 * knows whether a request went through the proxy and can say so in its errors, and so that
 * direct traffic keeps the node:http path it always had. The matching follows undici's rules
 * (no implicit exception for loopback: a parent on 127.0.0.1 is proxied unless NO_PROXY lists it).
 *
 * Proxy URLs may carry credentials (`http://user:password@proxy:3128`): only `describeProxy`'s
 * form (scheme, host and port) ever goes into a log line or an error message.
 */
export interface ProxySettings {
  /** Proxy URL for http:// origins, credentials included (never log it). */
  httpProxy?: string;
  /** Proxy URL for https:// origins, credentials included (never log it). */
  httpsProxy?: string;
  /** NO_PROXY as given. */
  noProxy: string;
}

export class ProxySettingsError extends Error {}

const DEFAULT_PORTS: Record<string, number> = { "http:": 80, "https:": 443 };

/**
 * The proxy settings in `env`, or undefined when it names no proxy. Throws ProxySettingsError for
 * a URL that cannot be used, naming the variable but not its value (it may hold a password).
 */
export function proxyFromEnvironment(env: NodeJS.ProcessEnv): ProxySettings | undefined {
  const httpProxy = pick(env, "http_proxy", "HTTP_PROXY");
  const httpsProxy = pick(env, "https_proxy", "HTTPS_PROXY");
  if (!httpProxy && !httpsProxy) return undefined;
  for (const [name, value] of [["HTTP_PROXY", httpProxy], ["HTTPS_PROXY", httpsProxy]] as const) {
    if (!value) continue;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ProxySettingsError(`${name} (or ${name.toLowerCase()}) is not a URL: give it as http://[user:password@]host:port`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ProxySettingsError(`${name} (or ${name.toLowerCase()}) must be an http:// or https:// URL, not ${url.protocol}`);
    }
  }
  return { ...(httpProxy ? { httpProxy } : {}), ...(httpsProxy ? { httpsProxy } : {}), noProxy: pick(env, "no_proxy", "NO_PROXY") ?? "" };
}

/** The proxy URL to use for `target`, or undefined when it is reached directly. */
export function proxyFor(settings: ProxySettings, target: URL): string | undefined {
  const proxy = target.protocol === "https:" ? (settings.httpsProxy ?? settings.httpProxy) : settings.httpProxy;
  if (!proxy) return undefined;
  return bypasses(settings.noProxy, target) ? undefined : proxy;
}

/** scheme://host:port of a proxy URL: what logs and errors may show (no user, no password). */
export function describeProxy(proxyUrl: string): string {
  const url = new URL(proxyUrl);
  return `${url.protocol}//${url.host}`;
}

/** Whether NO_PROXY lists the target: `*`, a host, a domain (with or without a leading `.` or `*.`), each optionally with `:port`. */
function bypasses(noProxy: string, target: URL): boolean {
  const entries = noProxy.split(/[,\s]/).filter(Boolean);
  if (entries.length === 0) return false;
  if (noProxy.trim() === "*") return true;
  // `host` keeps IPv6 brackets, which NO_PROXY entries carry too.
  const hostname = target.host.replace(/:\d*$/, "").toLowerCase();
  const port = Number.parseInt(target.port, 10) || DEFAULT_PORTS[target.protocol] || 0;
  for (const entry of entries) {
    const parsed = /^(.+):(\d+)$/.exec(entry);
    const entryHost = (parsed ? parsed[1]! : entry).replace(/^\*?\./, "").toLowerCase();
    const entryPort = parsed ? Number.parseInt(parsed[2]!, 10) : 0;
    if (entryPort && entryPort !== port) continue;
    if (hostname === entryHost || hostname.endsWith(`.${entryHost}`)) return true;
  }
  return false;
}

function pick(env: NodeJS.ProcessEnv, lower: string, upper: string): string | undefined {
  const value = env[lower] ?? env[upper];
  return value ? value : undefined;
}
