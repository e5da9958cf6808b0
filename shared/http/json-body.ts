/**
 * Reads a JSON request body and validates it against a zod schema: for the management
 * API and the sync endpoints. Failures are InvalidBodyError, which each API renders in
 * its own error shape.
 */
import type { z } from "zod";
import { BodyTooLargeError, readBody } from "./body.js";

const MAX_JSON_BODY_BYTES = 1024 * 1024;

export class InvalidBodyError extends Error {}

export async function readJson<T>(body: AsyncIterable<Uint8Array> | null, schema: z.ZodType<T>, maxBytes = MAX_JSON_BODY_BYTES): Promise<T> {
  let text: string;
  try {
    text = Buffer.from(await readBody(body, maxBytes)).toString("utf8");
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new InvalidBodyError(`the request body exceeds ${maxBytes} bytes`);
    throw error;
  }
  let json: unknown;
  try {
    json = text.length === 0 ? {} : JSON.parse(text);
  } catch {
    throw new InvalidBodyError("the request body is not valid JSON");
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message));
    throw new InvalidBodyError(`invalid request: ${problems.join("; ")}`);
  }
  return result.data;
}
