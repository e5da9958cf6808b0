/**
 * The connection string that `get-settings` hands to the operator and the edge agent
 * reads at start-up, in ACR's form:
 *
 *   ConnectedRegistryName=<n>;SyncTokenName=<t>;SyncTokenPassword=<p>;ParentGatewayEndpoint=<host>;ParentEndpointProtocol=<https|http>
 *
 * ";" separates fields and cannot be escaped, so no value may contain one. A value may
 * contain "=" (generated passwords can end in base64 padding): a field splits at its
 * first "=". The password never appears in an error message.
 */
import { z } from "zod";
import { isValidIdentityName } from "../identity-names.js";
import { isValidConnectedRegistryName } from "./names-and-modes.js";

/**
 * What `get-settings` writes in place of a password when it generated none: passwords
 * are stored hashed, so the only way to a usable string is a new password.
 */
export const PASSWORD_PLACEHOLDER = "<no password: generate one with get-settings --generate-password 1 or 2>";

export const PARENT_ENDPOINT_PROTOCOLS = ["https", "http"] as const;

const FIELDS = ["ConnectedRegistryName", "SyncTokenName", "SyncTokenPassword", "ParentGatewayEndpoint", "ParentEndpointProtocol"] as const;
type Field = (typeof FIELDS)[number];

const noSemicolon = (value: string): boolean => !value.includes(";");

/** Every field as `get-settings` may write it: the password may still be the placeholder. */
const writtenFieldsSchema = z.object({
  ConnectedRegistryName: z
    .string({ error: "is missing" })
    .refine(isValidConnectedRegistryName, { error: (issue) => `"${String(issue.input)}" is not a connected registry name (5-50 letters and digits)` }),
  SyncTokenName: z
    .string({ error: "is missing" })
    .refine(isValidIdentityName, { error: (issue) => `"${String(issue.input)}" is not a token name (5-50 letters, digits, - and _)` }),
  SyncTokenPassword: z
    .string({ error: "is missing" })
    .min(1, { error: "is empty" })
    .refine(noSemicolon, { error: 'contains ";", which separates fields' }),
  ParentGatewayEndpoint: z
    .string({ error: "is missing" })
    .refine(isHostAndPort, { error: (issue) => `"${String(issue.input)}" is not a host name or address with an optional port (no scheme, no path)` }),
  ParentEndpointProtocol: z.enum(PARENT_ENDPOINT_PROTOCOLS, {
    error: (issue) => (issue.input === undefined ? "is missing" : `"${String(issue.input)}" must be https or http`),
  }),
});

/** Every field as an edge agent can use it: a placeholder is no password. */
const usableFieldsSchema = writtenFieldsSchema.extend({
  SyncTokenPassword: writtenFieldsSchema.shape.SyncTokenPassword.refine((password) => password !== PASSWORD_PLACEHOLDER, {
    error: "holds no password: generate one with get-settings --generate-password 1 or 2",
  }),
});

export interface ConnectionSettings {
  connectedRegistryName: string;
  syncTokenName: string;
  syncTokenPassword: string;
  /** Host, or host:port, of the parent's gateway: the cloud registry's or a parent edge's. */
  parentGatewayEndpoint: string;
  parentEndpointProtocol: (typeof PARENT_ENDPOINT_PROTOCOLS)[number];
}

export type ConnectionStringResult = { ok: true; settings: ConnectionSettings } | { ok: false; message: string };

/**
 * The connection string for `settings`; without a password, the placeholder that says how
 * to get one. Throws on a value that would not read back (the values come from our own
 * records, so that is a bug, not user input).
 */
export function formatConnectionString(settings: Omit<ConnectionSettings, "syncTokenPassword"> & { syncTokenPassword?: string | undefined }): string {
  const fields: Record<Field, string> = {
    ConnectedRegistryName: settings.connectedRegistryName,
    SyncTokenName: settings.syncTokenName,
    SyncTokenPassword: settings.syncTokenPassword ?? PASSWORD_PLACEHOLDER,
    ParentGatewayEndpoint: settings.parentGatewayEndpoint,
    ParentEndpointProtocol: settings.parentEndpointProtocol,
  };
  const problems = describeIssues(writtenFieldsSchema.safeParse(fields));
  if (problems.length > 0) throw new Error(`cannot write a connection string: ${problems.join("; ")}`);
  return FIELDS.map((field) => `${field}=${fields[field]}`).join(";");
}

/** Reads a connection string; the message names every field that is missing or wrong. */
export function parseConnectionString(text: string): ConnectionStringResult {
  const problems: string[] = [];
  const fields: Partial<Record<Field, string>> = {};
  // Copied strings often pick up a trailing newline or ";": neither is part of any value.
  const body = text.trim().replace(/;$/, "");
  const segments = body === "" ? [] : body.split(";");
  for (const [index, segment] of segments.entries()) {
    const equals = segment.indexOf("=");
    if (equals < 0) {
      // The segment's text is not quoted: after a password with ";" in it, it may be part of the password.
      problems.push(`field ${index + 1} has no "=" (expected Name=value)`);
      continue;
    }
    const key = segment.slice(0, equals).trim();
    if (!isField(key)) problems.push(`unknown field "${key}" (expected ${FIELDS.join(", ")})`);
    else if (fields[key] !== undefined) problems.push(`${key} appears more than once`);
    else fields[key] = segment.slice(equals + 1);
  }
  const parsed = usableFieldsSchema.safeParse(fields);
  problems.push(...describeIssues(parsed));
  if (problems.length > 0 || !parsed.success) return { ok: false, message: `invalid connection string: ${problems.join("; ")}` };
  return {
    ok: true,
    settings: {
      connectedRegistryName: parsed.data.ConnectedRegistryName,
      syncTokenName: parsed.data.SyncTokenName,
      syncTokenPassword: parsed.data.SyncTokenPassword,
      parentGatewayEndpoint: parsed.data.ParentGatewayEndpoint,
      parentEndpointProtocol: parsed.data.ParentEndpointProtocol,
    },
  };
}

function isField(key: string): key is Field {
  return (FIELDS as readonly string[]).includes(key);
}

function describeIssues(result: z.ZodSafeParseResult<unknown>): string[] {
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`);
}

/** A host name, IPv4 or [IPv6] address, with an optional port, and nothing else. */
function isHostAndPort(value: string): boolean {
  if (value === "" || /[\s/\\?#@;]/.test(value)) return false;
  try {
    const url = new URL(`https://${value}`);
    // The URL parser normalises case and drops a default port; anything else it changed was not a plain host.
    const expected = value.toLowerCase().replace(/:443$/, "");
    return url.host === expected && url.pathname === "/";
  } catch {
    return false;
  }
}
