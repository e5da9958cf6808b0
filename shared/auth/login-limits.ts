/**
 * The failed-login limits and password-check threads (attempt-limiter.ts, password-check-pool.ts,
 * docs/identity.md), validated once, the same way for the cloud's settings (shared/config.ts)
 * and the edge agent's flags (edge-agent/src/options.ts).
 */
import { z } from "zod";

export const LOGIN_LIMIT_DEFAULTS = {
  failureWindowSeconds: 60,
  failuresPerAddress: 10,
  failuresPerToken: 30,
  refusalDelayMs: 1000,
  // Two in a cloud instance; the edge runs one, so its file reads keep a core.
  passwordCheckWorkers: 2,
} as const;

export const loginLimitFields = {
  failureWindowSeconds: z.coerce.number().int().min(1).max(24 * 3600),
  failuresPerAddress: z.coerce.number().int().min(1).max(100_000),
  failuresPerToken: z.coerce.number().int().min(1).max(100_000),
  refusalDelayMs: z.coerce.number().int().min(0).max(10_000),
  passwordCheckWorkers: z.coerce.number().int().min(1).max(16),
};
