import { describe, expect, it } from "vitest";
import { RegistryError } from "../../shared/domain/registry-errors.js";
import { parseV2Path } from "../../shared/registry/route-path.js";

const digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

describe("parsing /v2/ paths", () => {
  it.each(["/v2", "/v2/"])("reads %j as the base endpoint", (path) => {
    expect(parseV2Path(path)).toEqual({ kind: "base" });
  });

  it("reads /v2/_catalog as the catalog, with or without a trailing slash", () => {
    expect(parseV2Path("/v2/_catalog")).toEqual({ kind: "catalog" });
    expect(parseV2Path("/v2/_catalog/")).toEqual({ kind: "catalog" });
  });

  it("returns nothing for a path outside /v2", () => {
    expect(parseV2Path("/v1/alpine/manifests/latest")).toBeUndefined();
    expect(parseV2Path("/oauth2/token")).toBeUndefined();
  });

  it("does not take a path that merely starts with the letters v2 as a registry path", () => {
    expect(parseV2Path("/v2library/alpine/manifests/latest")).toBeUndefined();
    expect(parseV2Path("/v20/x/tags/list")).toBeUndefined();
    expect(parseV2Path("/v2_catalog")).toBeUndefined();
  });

  it("returns nothing for an unknown endpoint under a name", () => {
    expect(parseV2Path("/v2/alpine/nothing/here")).toBeUndefined();
    expect(parseV2Path("/v2/alpine")).toBeUndefined();
    expect(parseV2Path("/v2/alpine/tags")).toBeUndefined();
    expect(parseV2Path("/v2/alpine/tags/list/extra")).toBeUndefined();
  });

  it("requires a repository name before the endpoint", () => {
    expect(parseV2Path("/v2/tags/list")).toBeUndefined();
    expect(parseV2Path("/v2/manifests/latest")).toBeUndefined();
    expect(parseV2Path("/v2/blobs/uploads/")).toBeUndefined();
    expect(parseV2Path("/v2/blobs/uploads/abc")).toBeUndefined();
  });

  it("tolerates one trailing slash on a tag listing", () => {
    expect(parseV2Path("/v2/alpine/tags/list/")).toEqual({ kind: "tags", name: "alpine" });
  });

  it("reads a tag listing with a multi-component name", () => {
    expect(parseV2Path("/v2/library/alpine/tags/list")).toEqual({ kind: "tags", name: "library/alpine" });
  });

  it("reads a manifest by tag and by digest", () => {
    expect(parseV2Path("/v2/library/alpine/manifests/3.20")).toEqual({ kind: "manifest", name: "library/alpine", reference: "3.20" });
    expect(parseV2Path(`/v2/a/b/c/manifests/${digest}`)).toEqual({ kind: "manifest", name: "a/b/c", reference: digest });
  });

  it("reads a blob", () => {
    expect(parseV2Path(`/v2/alpine/blobs/${digest}`)).toEqual({ kind: "blob", name: "alpine", digest });
  });

  it("reads the referrers endpoint", () => {
    expect(parseV2Path(`/v2/org/app/referrers/${digest}`)).toEqual({ kind: "referrers", name: "org/app", digest });
  });

  it("reads an upload start with and without a trailing slash", () => {
    expect(parseV2Path("/v2/org/app/blobs/uploads/")).toEqual({ kind: "uploads", name: "org/app" });
    expect(parseV2Path("/v2/org/app/blobs/uploads")).toEqual({ kind: "uploads", name: "org/app" });
  });

  it("reads an upload session by id", () => {
    expect(parseV2Path("/v2/org/app/blobs/uploads/3f0c-11aa")).toEqual({ kind: "upload", name: "org/app", id: "3f0c-11aa" });
  });

  it("keeps 'blobs', 'manifests' and 'tags' components that belong to the name", () => {
    expect(parseV2Path(`/v2/x/blobs/y/blobs/${digest}`)).toEqual({ kind: "blob", name: "x/blobs/y", digest });
    expect(parseV2Path("/v2/x/manifests/y/manifests/latest")).toEqual({ kind: "manifest", name: "x/manifests/y", reference: "latest" });
    expect(parseV2Path("/v2/x/tags/list/tags/list")).toEqual({ kind: "tags", name: "x/tags/list" });
    expect(parseV2Path("/v2/x/tags/manifests/list")).toEqual({ kind: "manifest", name: "x/tags", reference: "list" });
    expect(parseV2Path("/v2/blobs/uploads/blobs/uploads/")).toEqual({ kind: "uploads", name: "blobs/uploads" });
    expect(parseV2Path("/v2/x/blobs/uploads/manifests/latest")).toEqual({ kind: "manifest", name: "x/blobs/uploads", reference: "latest" });
    expect(parseV2Path(`/v2/x/blobs/uploads/blobs/${digest}`)).toEqual({ kind: "blob", name: "x/blobs/uploads", digest });
  });

  it("treats a repository named _catalog as a repository when an endpoint follows it", () => {
    expect(parseV2Path("/v2/_catalog/tags/list")).toEqual({ kind: "tags", name: "_catalog" });
  });

  it("decodes percent-encoded paths", () => {
    expect(parseV2Path("/v2/library/alpine/manifests/sha256%3Aabc")).toEqual({
      kind: "manifest",
      name: "library/alpine",
      reference: "sha256:abc",
    });
    expect(parseV2Path("/v2/my%2Dorg/app/tags/list")).toEqual({ kind: "tags", name: "my-org/app" });
  });

  it("keeps an encoded slash inside its segment, so it cannot forge a route", () => {
    expect(parseV2Path("/v2/x/manifests%2Flatest")).toBeUndefined();
    expect(parseV2Path("/v2/x/tags%2Flist")).toBeUndefined();
    expect(parseV2Path("/v2/x/blobs%2Fuploads")).toBeUndefined();
    expect(parseV2Path("/v2/x/manifests/a%2Fb")).toEqual({ kind: "manifest", name: "x", reference: "a/b" });
    expect(parseV2Path("/v2/a%2Fmanifests/tags/list")).toEqual({ kind: "tags", name: "a/manifests" });
  });

  it("passes a decoded '..' through as part of the name, for name validation to refuse", () => {
    expect(parseV2Path("/v2/a/%2E%2E/b/tags/list")).toEqual({ kind: "tags", name: "a/../b" });
  });

  it.each(["/v2/alpine%/tags/list", "/v2/alpine/manifests/%E0%A4%A", "/v2/%zz/_catalog"])(
    "throws a NAME_INVALID RegistryError for malformed percent-encoding in %j",
    (path) => {
      let thrown: unknown;
      try {
        parseV2Path(path);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(RegistryError);
      expect((thrown as RegistryError).code).toBe("NAME_INVALID");
      expect((thrown as RegistryError).status).toBe(400);
    },
  );
});
