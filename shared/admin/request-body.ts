/** Reads and validates a management API request body against a zod schema. */
import type { z } from "zod";
import { BodyTooLargeError, readBody } from "../http/body.js";
import { badRequest } from "./errors.js";

const MAX_ADMIN_BODY_BYTES = 1024 * 1024;

export async function readJson<T>(body: AsyncIterable<Uint8Array> | null, schema: z.ZodType<T>): Promise<T> {
  let text: string;
  try {
    text = Buffer.from(await readBody(body, MAX_ADMIN_BODY_BYTES)).toString("utf8");
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw badRequest(`the request body exceeds ${MAX_ADMIN_BODY_BYTES} bytes`);
    throw error;
  }
  let json: unknown;
  try {
    json = text.length === 0 ? {} : JSON.parse(text);
  } catch {
    throw badRequest("the request body is not valid JSON");
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message));
    throw badRequest(`invalid request: ${problems.join("; ")}`);
  }
  return result.data;
}
