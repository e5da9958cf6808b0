import { describe, expect, it } from "vitest";
import {
  DEFAULT_CONNECTED_REGISTRY_MODE,
  activationStatusSchema,
  connectedRegistryModeSchema,
  connectedRegistryNameSchema,
  connectionStateSchema,
  isValidConnectedRegistryName,
  loggingLevelSchema,
} from "../../../shared/domain/connected-registry/index.js";

describe("connected registry names", () => {
  it.each(["edge1", "Factory01", "a".repeat(50)])("accepts %s", (name) => {
    expect(isValidConnectedRegistryName(name)).toBe(true);
  });

  it.each([
    ["shorter than 5 characters", "edge"],
    ["longer than 50 characters", "a".repeat(51)],
    ["a hyphen", "edge-01"],
    ["an underscore", "edge_01"],
    ["a slash", "edge/01"],
    ["a non-ASCII letter", "fabrïk1"],
    ["nothing at all", ""],
  ])("refuses a name with %s", (_what, name) => {
    expect(isValidConnectedRegistryName(name)).toBe(false);
  });

  it("names the rejected name and the rule in the schema's message", () => {
    const result = connectedRegistryNameSchema.safeParse("my-edge");
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('invalid connected registry name "my-edge": use 5-50 letters and digits');
  });
});

describe("modes and states", () => {
  it("defaults to ReadWrite", () => {
    expect(DEFAULT_CONNECTED_REGISTRY_MODE).toBe("ReadWrite");
  });

  it.each([
    ["mode", connectedRegistryModeSchema, ["ReadWrite", "ReadOnly"], "readonly"],
    ["logging level", loggingLevelSchema, ["Debug", "Information", "Warning", "Error", "None"], "Info"],
    ["connection state", connectionStateSchema, ["Online", "Offline", "Syncing", "Unhealthy"], "online"],
    ["activation status", activationStatusSchema, ["Active", "Inactive"], "Deactivated"],
  ] as const)("accepts exactly ACR's spelling of every %s", (_what, schema, values, wrong) => {
    for (const value of values) expect(schema.safeParse(value).success).toBe(true);
    expect(schema.safeParse(wrong).success).toBe(false);
    expect(schema.options).toEqual(values);
  });
});
