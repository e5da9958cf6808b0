/**
 * The feed cursor: opaque to the edge, but plain inside: which connected registry it
 * belongs to, the last settled sequence number, and when it was issued (for the
 * message TTL: a cursor older than that means the edge missed changes that expired).
 */
import { z } from "zod";
import { SyncError } from "./errors.js";

const cursorSchema = z.object({ v: z.literal(1), cr: z.string(), s: z.number().int().nonnegative(), t: z.number().int().nonnegative() });
export type Cursor = z.infer<typeof cursorSchema>;

export function encodeCursor(connectedRegistry: string, settled: number, issuedAt: number): string {
  return Buffer.from(JSON.stringify({ v: 1, cr: connectedRegistry, s: settled, t: issuedAt })).toString("base64url");
}

export function decodeCursor(text: string, connectedRegistry: string): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw new SyncError("CURSOR_INVALID", "the cursor is not one this registry issued; activate again for a fresh one");
  }
  const result = cursorSchema.safeParse(parsed);
  if (!result.success || result.data.cr !== connectedRegistry) {
    throw new SyncError("CURSOR_INVALID", `the cursor was not issued for connected registry "${connectedRegistry}"; activate again for a fresh one`);
  }
  return result.data;
}
