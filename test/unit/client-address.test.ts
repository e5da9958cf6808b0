/** The client's address behind Azure's front end (shared/http/client-address.ts). */
import { HttpRequest, InvocationContext } from "@azure/functions";
import { describe, expect, it } from "vitest";
import { toAzureHttpHandler } from "../../shared/http/azure-adapter.js";
import { forwardedClientAddress } from "../../shared/http/client-address.js";

const from = (value?: string): string | undefined => forwardedClientAddress(new Headers(value === undefined ? {} : { "X-Forwarded-For": value }));

describe("forwarded client address", () => {
  it("takes the entry the front end appended, without its port", () => {
    expect(from("203.0.113.7:51234")).toBe("203.0.113.7");
    expect(from("203.0.113.7")).toBe("203.0.113.7");
    expect(from("[2001:db8::1]:51234")).toBe("2001:db8::1");
    expect(from("2001:db8::1")).toBe("2001:db8::1");
  });

  it("ignores what the client itself put before it", () => {
    expect(from("10.0.0.1, 198.51.100.2, 203.0.113.7:443")).toBe("203.0.113.7");
  });

  it("knows no address without the header", () => {
    expect(from()).toBeUndefined();
    expect(from(" , ")).toBeUndefined();
  });

  it("is what the Azure adapter gives the handlers as the client's address", async () => {
    const echo = toAzureHttpHandler(async (request) => ({ status: 200, body: request.clientAddress ?? "(none)" }));
    const forwarded = new HttpRequest({ method: "GET", url: "https://registry.example/v2/", headers: { "x-forwarded-for": "10.9.9.9, 203.0.113.7:5555" } });
    expect((await echo(forwarded, new InvocationContext())).body).toBe("203.0.113.7");
    expect((await echo(new HttpRequest({ method: "GET", url: "https://registry.example/v2/" }), new InvocationContext())).body).toBe("(none)");
  });
});
