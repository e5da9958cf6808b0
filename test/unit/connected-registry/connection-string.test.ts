import { describe, expect, it } from "vitest";
import {
  PASSWORD_PLACEHOLDER,
  formatConnectionString,
  parseConnectionString,
  type ConnectionSettings,
  type ConnectionStringResult,
} from "../../../shared/domain/connected-registry/index.js";

const settings: ConnectionSettings = {
  connectedRegistryName: "factory1",
  syncTokenName: "factory1-sync-token",
  syncTokenPassword: "s3cr3t+/AbC==",
  parentGatewayEndpoint: "myregistry.example.com",
  parentEndpointProtocol: "https",
};

const valid =
  "ConnectedRegistryName=factory1;SyncTokenName=factory1-sync-token;SyncTokenPassword=s3cr3t+/AbC==;ParentGatewayEndpoint=myregistry.example.com;ParentEndpointProtocol=https";

function refusal(result: ConnectionStringResult): string {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.settings)}`);
  return result.message;
}

/** The valid string with one field replaced (or removed, for undefined). */
function withField(name: string, value: string | undefined): string {
  return valid
    .split(";")
    .flatMap((field) => (field.startsWith(`${name}=`) ? (value === undefined ? [] : [`${name}=${value}`]) : [field]))
    .join(";");
}

describe("connection string", () => {
  it("is written in ACR's field order", () => {
    expect(formatConnectionString(settings)).toBe(valid);
  });

  it("reads back what it wrote, including a password that contains =", () => {
    expect(parseConnectionString(formatConnectionString(settings))).toEqual({ ok: true, settings });
  });

  it("round-trips a loopback parent with a port over http", () => {
    const local: ConnectionSettings = { ...settings, parentGatewayEndpoint: "127.0.0.1:8080", parentEndpointProtocol: "http" };
    expect(parseConnectionString(formatConnectionString(local))).toEqual({ ok: true, settings: local });
  });

  it("accepts an IPv6 parent in brackets with a port", () => {
    expect(parseConnectionString(withField("ParentGatewayEndpoint", "[::1]:8443"))).toMatchObject({ ok: true });
  });

  it("reads fields in any order and ignores a trailing ; and newline", () => {
    const shuffled = valid.split(";").reverse().join(";");
    expect(parseConnectionString(`${shuffled};\n`)).toEqual({ ok: true, settings });
  });

  it("writes a placeholder that says how to get a password when none was generated", () => {
    const text = formatConnectionString({ ...settings, syncTokenPassword: undefined });
    expect(text).toContain(`;SyncTokenPassword=${PASSWORD_PLACEHOLDER};`);
    expect(PASSWORD_PLACEHOLDER).toMatch(/generate .*--generate-password 1 or 2/);
  });

  it("refuses to read the placeholder as a password, saying how to get one", () => {
    const text = formatConnectionString({ ...settings, syncTokenPassword: undefined });
    expect(refusal(parseConnectionString(text))).toBe(
      "invalid connection string: SyncTokenPassword holds no password: generate one with get-settings --generate-password 1 or 2",
    );
  });

  it.each([
    ["connectedRegistryName", { connectedRegistryName: "a;b12" }],
    ["syncTokenName", { syncTokenName: "tok;en1" }],
    ["syncTokenPassword", { syncTokenPassword: "pa;ss" }],
    ["parentGatewayEndpoint", { parentGatewayEndpoint: "host;x" }],
  ])("refuses to write a %s that contains ;", (_field, change) => {
    expect(() => formatConnectionString({ ...settings, ...change })).toThrow(/cannot write a connection string/);
  });

  it("refuses to write an invalid name, naming the field", () => {
    expect(() => formatConnectionString({ ...settings, connectedRegistryName: "my-edge" })).toThrow(/ConnectedRegistryName "my-edge"/);
  });
});

describe("malformed connection strings", () => {
  it.each(["ConnectedRegistryName", "SyncTokenName", "SyncTokenPassword", "ParentGatewayEndpoint", "ParentEndpointProtocol"])(
    "names a missing %s",
    (field) => {
      expect(refusal(parseConnectionString(withField(field, undefined)))).toBe(`invalid connection string: ${field} is missing`);
    },
  );

  it("names every missing field of an empty string", () => {
    const message = refusal(parseConnectionString("   "));
    for (const field of ["ConnectedRegistryName", "SyncTokenName", "SyncTokenPassword", "ParentGatewayEndpoint", "ParentEndpointProtocol"]) {
      expect(message).toContain(`${field} is missing`);
    }
  });

  it.each([
    ["an invalid connected registry name", "ConnectedRegistryName", "my-edge", 'ConnectedRegistryName "my-edge" is not a connected registry name'],
    ["an empty connected registry name", "ConnectedRegistryName", "", 'ConnectedRegistryName "" is not a connected registry name'],
    ["an invalid token name", "SyncTokenName", "tok", 'SyncTokenName "tok" is not a token name'],
    ["an empty password", "SyncTokenPassword", "", "SyncTokenPassword is empty"],
    ["a protocol other than https or http", "ParentEndpointProtocol", "ftp", 'ParentEndpointProtocol "ftp" must be https or http'],
    ["an upper-case protocol", "ParentEndpointProtocol", "HTTPS", 'ParentEndpointProtocol "HTTPS" must be https or http'],
    ["an endpoint with a scheme", "ParentGatewayEndpoint", "https://myregistry.example.com", "ParentGatewayEndpoint \"https://myregistry.example.com\" is not a host"],
    ["an endpoint with a path", "ParentGatewayEndpoint", "myregistry.example.com/v2", "is not a host"],
    ["an endpoint with user info", "ParentGatewayEndpoint", "user@myregistry.example.com", "is not a host"],
    ["an endpoint with a bad port", "ParentGatewayEndpoint", "myregistry.example.com:99999", "is not a host"],
    ["an empty endpoint", "ParentGatewayEndpoint", "", "is not a host"],
    ["a shorthand address that means another one", "ParentGatewayEndpoint", "127.1", '"127.1" is not a host'],
    ["a non-ASCII host name", "ParentGatewayEndpoint", "bücher.example", "is not a host"],
  ])("refuses %s, naming the field", (_what, field, value, expected) => {
    expect(refusal(parseConnectionString(withField(field, value)))).toContain(expected);
  });

  it("refuses an unknown field, naming it and the expected ones", () => {
    expect(refusal(parseConnectionString(`${valid};Extra=1`))).toBe(
      'invalid connection string: unknown field "Extra" (expected ConnectedRegistryName, SyncTokenName, SyncTokenPassword, ParentGatewayEndpoint, ParentEndpointProtocol)',
    );
  });

  it("refuses field names in another case", () => {
    expect(refusal(parseConnectionString(valid.replace("SyncTokenName=", "synctokenname=")))).toContain('unknown field "synctokenname"');
  });

  it("refuses a field given twice", () => {
    expect(refusal(parseConnectionString(`${valid};SyncTokenName=other-token`))).toBe("invalid connection string: SyncTokenName appears more than once");
  });

  it("refuses a password that contains ; without echoing any part of it", () => {
    const message = refusal(parseConnectionString(withField("SyncTokenPassword", "abc;hunter2")));
    expect(message).toBe('invalid connection string: field 4 has no "=" (expected Name=value)');
    expect(message).not.toContain("hunter2");
  });

  it("never echoes the password when another field is wrong", () => {
    const message = refusal(parseConnectionString(withField("ParentEndpointProtocol", "ftp")));
    expect(message).not.toContain("s3cr3t");
  });

  it("refuses an empty field between two separators", () => {
    expect(refusal(parseConnectionString(valid.replace(";SyncTokenName", ";;SyncTokenName")))).toContain('field 2 has no "="');
  });
});
