import { describe, expect, it } from "vitest";
import { ProxySettingsError, describeProxy, proxyFor, proxyFromEnvironment } from "../../shared/remote/proxy.js";

describe("outbound proxy settings from the environment", () => {
  it("names no proxy when the environment names none", () => {
    expect(proxyFromEnvironment({ NO_PROXY: "example.com" })).toBeUndefined();
  });

  it("uses HTTPS_PROXY for https origins and HTTP_PROXY for http ones, the lowercase forms first", () => {
    const settings = proxyFromEnvironment({ HTTP_PROXY: "http://plain:3128", https_proxy: "http://lower:3128", HTTPS_PROXY: "http://upper:3128" })!;
    expect(proxyFor(settings, new URL("https://registry.example.com"))).toBe("http://lower:3128");
    expect(proxyFor(settings, new URL("http://registry.example.com"))).toBe("http://plain:3128");
  });

  it("falls back to HTTP_PROXY for https origins when HTTPS_PROXY is unset, as undici does", () => {
    const settings = proxyFromEnvironment({ HTTP_PROXY: "http://plain:3128" })!;
    expect(proxyFor(settings, new URL("https://registry.example.com"))).toBe("http://plain:3128");
    expect(proxyFor(proxyFromEnvironment({ HTTPS_PROXY: "http://tls:3128" })!, new URL("http://registry.example.com"))).toBeUndefined();
  });

  it("proxies loopback unless NO_PROXY lists it", () => {
    expect(proxyFor(proxyFromEnvironment({ HTTP_PROXY: "http://p:1" })!, new URL("http://127.0.0.1:8080"))).toBe("http://p:1");
    expect(proxyFor(proxyFromEnvironment({ HTTP_PROXY: "http://p:1", NO_PROXY: "localhost" })!, new URL("http://127.0.0.1:8080"))).toBe("http://p:1");
    expect(proxyFor(proxyFromEnvironment({ HTTP_PROXY: "http://p:1", NO_PROXY: "localhost,127.0.0.1" })!, new URL("http://127.0.0.1:8080"))).toBeUndefined();
  });

  it("matches NO_PROXY entries by host, domain suffix, optional port and wildcard", () => {
    const settings = (noProxy: string) => proxyFromEnvironment({ HTTPS_PROXY: "http://p:1", NO_PROXY: noProxy })!;
    const target = new URL("https://registry.corp.example:8443");
    expect(proxyFor(settings(".corp.example"), target)).toBeUndefined();
    expect(proxyFor(settings("*.corp.example"), target)).toBeUndefined();
    expect(proxyFor(settings("corp.example:8443"), target)).toBeUndefined();
    expect(proxyFor(settings("corp.example:443"), target)).toBe("http://p:1");
    expect(proxyFor(settings("other.example ample"), target)).toBe("http://p:1");
    expect(proxyFor(settings("*"), target)).toBeUndefined();
    expect(proxyFor(settings("registry.corp.example"), new URL("https://registry.corp.example"))).toBeUndefined();
  });

  it("refuses a proxy URL it cannot use without repeating it (it may hold a password)", () => {
    const attempt = (env: NodeJS.ProcessEnv) => {
      try {
        proxyFromEnvironment(env);
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const notUrl = attempt({ HTTPS_PROXY: "user:s3cret@proxy" });
    expect(notUrl).toBeInstanceOf(ProxySettingsError);
    expect((notUrl as Error).message).toContain("HTTPS_PROXY");
    expect((notUrl as Error).message).not.toContain("s3cret");
    expect((attempt({ HTTP_PROXY: "ftp://proxy:21" }) as Error).message).toContain("http:// or https://");
  });

  it("describes a proxy by scheme, host and port only", () => {
    expect(describeProxy("http://user:p%40ss@proxy.corp:3128")).toBe("http://proxy.corp:3128");
  });
});
