/** The client's address behind Azure's front end (shared/http/client-address.ts). */
import { describe, expect, it } from "vitest";
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
});
