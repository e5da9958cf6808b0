/**
 * The vocabulary of a connected registry: its name, its mode, and the enumerations that
 * `show` and `update` carry. Spelled as ACR spells them, because clients and operators
 * already know these words.
 */
import { z } from "zod";

/** ACR's rule: 5-50 letters and digits, nothing else (the name is also a path segment of gateway actions). */
const connectedRegistryName = /^[a-zA-Z0-9]{5,50}$/;

export function isValidConnectedRegistryName(name: string): boolean {
  return connectedRegistryName.test(name);
}

export const connectedRegistryNameSchema = z
  .string()
  .refine(isValidConnectedRegistryName, { error: (issue) => `invalid connected registry name "${String(issue.input)}": use 5-50 letters and digits` });

/** ReadWrite lets clients at the edge push (and the edge push upstream); ReadOnly only serves pulls. */
export const CONNECTED_REGISTRY_MODES = ["ReadWrite", "ReadOnly"] as const;
export const connectedRegistryModeSchema = z.enum(CONNECTED_REGISTRY_MODES);
export type ConnectedRegistryMode = z.infer<typeof connectedRegistryModeSchema>;
export const DEFAULT_CONNECTED_REGISTRY_MODE: ConnectedRegistryMode = "ReadWrite";

export const LOGGING_LEVELS = ["Debug", "Information", "Warning", "Error", "None"] as const;
export const loggingLevelSchema = z.enum(LOGGING_LEVELS);
export type LoggingLevel = z.infer<typeof loggingLevelSchema>;
/** ACR's default for a new connected registry. */
export const DEFAULT_LOGGING_LEVEL: LoggingLevel = "Information";

/** What `show` reports about the link to the edge; set from heartbeats, never by the operator. */
export const CONNECTION_STATES = ["Online", "Offline", "Syncing", "Unhealthy"] as const;
export const connectionStateSchema = z.enum(CONNECTION_STATES);
export type ConnectionState = z.infer<typeof connectionStateSchema>;

/** Active once an edge has done its handshake; deactivate sets it back to Inactive. */
export const ACTIVATION_STATUSES = ["Active", "Inactive"] as const;
export const activationStatusSchema = z.enum(ACTIVATION_STATUSES);
export type ActivationStatus = z.infer<typeof activationStatusSchema>;
