import { describe, expect, it } from "vitest";
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
  acceptsMediaType,
  bareMediaType,
  isIndexMediaType,
  isManifestMediaType,
} from "../../shared/domain/media-types.js";

describe("Accept negotiation", () => {
  it("serves any type to a client that sent no Accept header", () => {
    expect(acceptsMediaType([], DOCKER_MANIFEST)).toBe(true);
  });

  it("treats an Accept header with only empty entries as no preference", () => {
    expect(acceptsMediaType(["", " , "], OCI_INDEX)).toBe(true);
  });

  it("serves a type the client lists exactly", () => {
    expect(acceptsMediaType([OCI_MANIFEST], OCI_MANIFEST)).toBe(true);
  });

  it("refuses a type the client does not list", () => {
    expect(acceptsMediaType([DOCKER_MANIFEST], OCI_MANIFEST)).toBe(false);
  });

  it("serves anything to a client that accepts */*", () => {
    expect(acceptsMediaType(["*/*"], DOCKER_MANIFEST_LIST)).toBe(true);
  });

  it("serves a type whose family wildcard the client accepts", () => {
    expect(acceptsMediaType(["application/*"], OCI_INDEX)).toBe(true);
  });

  it("refuses a type when the client's wildcard names another family", () => {
    expect(acceptsMediaType(["text/*"], OCI_INDEX)).toBe(false);
  });

  it("ignores parameters such as q values and charsets when matching", () => {
    expect(acceptsMediaType([`${OCI_MANIFEST}; q=0.5`], OCI_MANIFEST)).toBe(true);
  });

  it("treats q=0 as 'not acceptable'", () => {
    expect(acceptsMediaType([`${OCI_MANIFEST};q=0, */*;q=0.1`], OCI_MANIFEST)).toBe(false);
    expect(acceptsMediaType([`${OCI_INDEX};q=0, */*;q=0.1`], OCI_MANIFEST)).toBe(true);
    expect(acceptsMediaType([`${OCI_MANIFEST}; q=0`], OCI_MANIFEST)).toBe(false);
    expect(acceptsMediaType([`${OCI_MANIFEST}; q=0.0`], OCI_MANIFEST)).toBe(false);
    expect(acceptsMediaType([`${OCI_MANIFEST}; q=0.01`], OCI_MANIFEST)).toBe(true);
    expect(acceptsMediaType([`${OCI_INDEX};charset=utf-8`], OCI_INDEX)).toBe(true);
  });

  it("matches case-insensitively", () => {
    expect(acceptsMediaType([OCI_MANIFEST.toUpperCase()], OCI_MANIFEST)).toBe(true);
  });

  it("finds a type anywhere in a comma-separated list", () => {
    const header = `${DOCKER_MANIFEST}, ${DOCKER_MANIFEST_LIST} ,${OCI_INDEX}`;
    expect(acceptsMediaType([header], OCI_INDEX)).toBe(true);
    expect(acceptsMediaType([header], DOCKER_MANIFEST_LIST)).toBe(true);
    expect(acceptsMediaType([header], OCI_MANIFEST)).toBe(false);
  });

  it("considers every Accept header a client sent, not only the first", () => {
    expect(acceptsMediaType([DOCKER_MANIFEST, `${OCI_MANIFEST}, ${OCI_INDEX}`], OCI_INDEX)).toBe(true);
    expect(acceptsMediaType([DOCKER_MANIFEST, OCI_MANIFEST], DOCKER_MANIFEST_LIST)).toBe(false);
  });
});

describe("media type helpers", () => {
  it("strips parameters, whitespace and case from a Content-Type", () => {
    expect(bareMediaType(" Application/Vnd.OCI.Image.Manifest.v1+JSON ; charset=utf-8")).toBe(OCI_MANIFEST);
  });

  it("knows the four manifest types and nothing else", () => {
    for (const type of [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST]) expect(isManifestMediaType(type)).toBe(true);
    expect(isManifestMediaType("application/vnd.docker.distribution.manifest.v1+prettyjws")).toBe(false);
    expect(isManifestMediaType("application/json")).toBe(false);
  });

  it("counts only the OCI index and the Docker manifest list as indexes", () => {
    expect(isIndexMediaType(OCI_INDEX)).toBe(true);
    expect(isIndexMediaType(DOCKER_MANIFEST_LIST)).toBe(true);
    expect(isIndexMediaType(OCI_MANIFEST)).toBe(false);
    expect(isIndexMediaType(DOCKER_MANIFEST)).toBe(false);
  });
});
