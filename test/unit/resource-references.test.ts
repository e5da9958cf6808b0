/** What a path segment or a body field must look like to name a stored resource (shared/domain). */
import { describe, expect, it } from "vitest";
import { isScopeMapReference, isTokenReference } from "../../shared/domain/identity-names.js";
import { isOperationId } from "../../shared/domain/operation-id.js";
import { UploadSlots } from "../../shared/http/upload-slots.js";

describe("resource references", () => {
  it("accepts the scope map names users give and the registry makes, nothing that Cosmos DB refuses", () => {
    expect(isScopeMapReference("_repositories_pull")).toBe(true);
    expect(isScopeMapReference(`${"t".repeat(50)}-scope-map`)).toBe(true);
    expect(isScopeMapReference(`${"r".repeat(39)}-sync-scope-map`)).toBe(true);
    for (const bad of ["a/bcdef", "a#bcdef", "a\\bcdef", "..", "abc", "x".repeat(61), "a?bcdef"]) expect(isScopeMapReference(bad)).toBe(false);
  });

  it("accepts token names of 5-50 letters, digits, - and _", () => {
    expect(isTokenReference(`${"r".repeat(39)}-sync-token`)).toBe(true);
    expect(isTokenReference("x".repeat(51))).toBe(false);
    expect(isTokenReference("a/bcdef")).toBe(false);
  });

  it("accepts only operation ids the registry makes", () => {
    expect(isOperationId("imp-0f8fad5b-d9cb-469f-a165-70867728950e")).toBe(true);
    for (const bad of ["..", "imp-..", "0f8fad5b-d9cb-469f-a165-70867728950e", "imp-0F8FAD5B-D9CB-469F-A165-70867728950E/x"]) expect(isOperationId(bad)).toBe(false);
  });
});

describe("upload slots", () => {
  it("lets one address hold at most the cap, per address, and gives a slot back once", () => {
    const slots = new UploadSlots(2);
    const first = slots.take("10.0.0.1")!;
    expect(slots.take("10.0.0.1")).toBeDefined();
    expect(slots.take("10.0.0.1")).toBeUndefined();
    expect(slots.take("10.0.0.2")).toBeDefined();
    first();
    first();
    expect(slots.take("10.0.0.1")).toBeDefined();
    expect(slots.take("10.0.0.1")).toBeUndefined();
  });
});
