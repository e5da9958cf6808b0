/**
 * The feed cursor: opaque to the edge, but plain inside (docs/sync-protocol.md, section 4):
 * which connected registry it belongs to, where in which history of the log it stands
 * (the log's epoch, the last settled sequence number, the fingerprint of the entry at that
 * number), and when it was issued (for the message TTL: a cursor older than that means the
 * edge missed changes that expired).
 */
import { z } from "zod";
import type { LogPosition } from "../registry/change-log.js";
import { SyncError } from "./errors.js";

const cursorSchema = z.object({
  v: z.literal(2),
  cr: z.string(),
  e: z.string().min(1),
  s: z.number().int().nonnegative(),
  f: z.string().min(1).optional(),
  t: z.number().int().nonnegative(),
});
export type Cursor = z.infer<typeof cursorSchema>;

export function encodeCursor(connectedRegistry: string, position: LogPosition, issuedAt: number): string {
  const cursor: Cursor = { v: 2, cr: connectedRegistry, e: position.epoch, s: position.seq, ...(position.fingerprint !== undefined ? { f: position.fingerprint } : {}), t: issuedAt };
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

export function cursorPosition(cursor: Cursor): LogPosition {
  return { epoch: cursor.e, seq: cursor.s, ...(cursor.f !== undefined ? { fingerprint: cursor.f } : {}) };
}

export function decodeCursor(text: string, connectedRegistry: string): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw new SyncError("CURSOR_INVALID", "the cursor is not one this registry issued; activate again for a fresh one");
  }
  // A version-1 cursor names no history: it cannot be checked, so it is read again from a full sync.
  if (isObject(parsed) && parsed.v === 1 && parsed.cr === connectedRegistry) {
    throw new SyncError("CURSOR_EXPIRED", "the cursor is from an older version of this registry's protocol; do a full resync", { reason: "version" });
  }
  const result = cursorSchema.safeParse(parsed);
  if (!result.success || result.data.cr !== connectedRegistry) {
    throw new SyncError("CURSOR_INVALID", `the cursor was not issued for connected registry "${connectedRegistry}"; activate again for a fresh one`);
  }
  return result.data;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
