import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MAX_MANIFEST_BYTES, ManifestParseError, parseManifest } from "../../shared/domain/manifest.js";
import {
  DOCKER_FOREIGN_LAYER,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
} from "../../shared/domain/media-types.js";

function digestOf(text: string): string {
  return `sha256:${createHash("sha256").update(text).digest("hex")}`;
}

const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";

const configDigest = digestOf("config");
const layer1 = digestOf("layer-1");
const layer2 = digestOf("layer-2");
const child1 = digestOf("child-1");
const child2 = digestOf("child-2");
const subjectDigest = digestOf("subject");
/** The digest of "{}", the OCI empty descriptor's content. */
const EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

function bytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
}

function ociManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: 10 },
    layers: [
      { mediaType: OCI_LAYER, digest: layer1, size: 100 },
      { mediaType: OCI_LAYER, digest: layer2, size: 200 },
    ],
    ...overrides,
  };
}

function ociIndex(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { mediaType: OCI_MANIFEST, digest: child1, size: 500, platform: { architecture: "amd64", os: "linux" } },
      { mediaType: OCI_MANIFEST, digest: child2, size: 501, platform: { architecture: "arm64", os: "linux" } },
    ],
    ...overrides,
  };
}

function dockerManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: { mediaType: DOCKER_CONFIG, digest: configDigest, size: 10 },
    layers: [{ mediaType: DOCKER_LAYER, digest: layer1, size: 100 }],
    ...overrides,
  };
}

function dockerList(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST_LIST,
    manifests: [{ mediaType: DOCKER_MANIFEST, digest: child1, size: 500, platform: { architecture: "amd64", os: "linux" } }],
    ...overrides,
  };
}

/** Runs the parser and returns the ManifestParseError it throws (failing if it throws anything else or nothing). */
function parseError(body: unknown, contentType: string | undefined): ManifestParseError {
  try {
    parseManifest(bytes(body), contentType);
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestParseError);
    return error as ManifestParseError;
  }
  throw new Error("expected parseManifest to throw");
}

describe("parsing valid manifests", () => {
  it("parses an OCI image manifest into the config and layer blobs it needs", () => {
    const parsed = parseManifest(bytes(ociManifest()), OCI_MANIFEST);
    expect(parsed.mediaType).toBe(OCI_MANIFEST);
    expect(parsed.blobDigests).toEqual([configDigest, layer1, layer2]);
    expect(parsed.manifestDigests).toEqual([]);
    expect(parsed.subject).toBeUndefined();
  });

  it("reports an image's config media type as its artifact type when artifactType is absent", () => {
    expect(parseManifest(bytes(ociManifest()), OCI_MANIFEST).artifactType).toBe(OCI_CONFIG);
  });

  it("parses an OCI index into the child manifests it needs and no blobs", () => {
    const parsed = parseManifest(bytes(ociIndex()), OCI_INDEX);
    expect(parsed.mediaType).toBe(OCI_INDEX);
    expect(parsed.manifestDigests).toEqual([child1, child2]);
    expect(parsed.blobDigests).toEqual([]);
    expect(parsed.artifactType).toBeUndefined();
  });

  it("accepts an empty OCI index", () => {
    const parsed = parseManifest(bytes(ociIndex({ manifests: [] })), OCI_INDEX);
    expect(parsed.manifestDigests).toEqual([]);
  });

  it("parses a Docker schema 2 manifest", () => {
    const parsed = parseManifest(bytes(dockerManifest()), DOCKER_MANIFEST);
    expect(parsed.mediaType).toBe(DOCKER_MANIFEST);
    expect(parsed.blobDigests).toEqual([configDigest, layer1]);
    expect(parsed.manifestDigests).toEqual([]);
  });

  it("parses a Docker manifest list", () => {
    const parsed = parseManifest(bytes(dockerList()), DOCKER_MANIFEST_LIST);
    expect(parsed.mediaType).toBe(DOCKER_MANIFEST_LIST);
    expect(parsed.manifestDigests).toEqual([child1]);
    expect(parsed.blobDigests).toEqual([]);
  });

  it("parses an artifact with an artifactType and the empty config, reporting the artifactType", () => {
    const artifact = ociManifest({
      artifactType: "application/vnd.example.sbom.v1+json",
      config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2, data: "e30=" },
      layers: [{ mediaType: "application/vnd.example.sbom.v1+json", digest: layer1, size: 42 }],
    });
    const parsed = parseManifest(bytes(artifact), OCI_MANIFEST);
    expect(parsed.artifactType).toBe("application/vnd.example.sbom.v1+json");
    expect(parsed.blobDigests).toEqual([EMPTY_DIGEST, layer1]);
  });

  it("accepts an artifact whose layers list is empty", () => {
    const artifact = ociManifest({
      artifactType: "application/vnd.example.signature",
      config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 },
      layers: [],
    });
    expect(parseManifest(bytes(artifact), OCI_MANIFEST).blobDigests).toEqual([EMPTY_DIGEST]);
  });

  it("extracts the subject of a manifest that refers to another", () => {
    const subject = { mediaType: OCI_MANIFEST, digest: subjectDigest, size: 321 };
    const parsed = parseManifest(bytes(ociManifest({ subject, annotations: { "org.example": "x" } })), OCI_MANIFEST);
    expect(parsed.subject).toEqual(subject);
    expect(parsed.annotations).toEqual({ "org.example": "x" });
  });

  it("extracts the subject and artifactType of an index", () => {
    const subject = { mediaType: OCI_MANIFEST, digest: subjectDigest, size: 321 };
    const parsed = parseManifest(bytes(ociIndex({ subject, artifactType: "application/vnd.example.bundle" })), OCI_INDEX);
    expect(parsed.subject).toEqual(subject);
    expect(parsed.artifactType).toBe("application/vnd.example.bundle");
  });

  it("leaves Docker foreign layers out of the blobs the repository must hold", () => {
    const manifest = dockerManifest({
      layers: [
        { mediaType: DOCKER_FOREIGN_LAYER, digest: layer1, size: 100, urls: ["https://mcr.microsoft.com/layer1"] },
        { mediaType: DOCKER_LAYER, digest: layer2, size: 200 },
      ],
    });
    expect(parseManifest(bytes(manifest), DOCKER_MANIFEST).blobDigests).toEqual([configDigest, layer2]);
  });

  // Gap (not in the brief): distribution also skips OCI non-distributable layers, which
  // carry `urls` and are never uploaded (OCI image-spec: deprecated, but consumers must
  // support them). This parser requires them as blobs, so a Windows image converted to OCI
  // media types would be refused with MANIFEST_BLOB_UNKNOWN.
  it("leaves OCI non-distributable layers out of the blobs the repository must hold", () => {
    const manifest = ociManifest({
      layers: [
        {
          mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
          digest: layer1,
          size: 100,
          urls: ["https://mcr.microsoft.com/layer1"],
        },
        { mediaType: OCI_LAYER, digest: layer2, size: 200 },
      ],
    });
    expect(parseManifest(bytes(manifest), OCI_MANIFEST).blobDigests).toEqual([configDigest, layer2]);
  });

  it("ignores Content-Type parameters and case", () => {
    expect(parseManifest(bytes(ociManifest()), `${OCI_MANIFEST.toUpperCase()}; charset=utf-8`).mediaType).toBe(OCI_MANIFEST);
  });

  it("takes the body's mediaType when the Content-Type is not a manifest type", () => {
    expect(parseManifest(bytes(dockerManifest()), "application/json").mediaType).toBe(DOCKER_MANIFEST);
    expect(parseManifest(bytes(dockerList()), undefined).mediaType).toBe(DOCKER_MANIFEST_LIST);
  });

  it("takes the Content-Type when an OCI body omits mediaType", () => {
    const { mediaType: _omit, ...body } = ociIndex();
    expect(parseManifest(bytes(body), OCI_INDEX).mediaType).toBe(OCI_INDEX);
  });

  it("infers an OCI index or manifest from its shape when neither Content-Type nor mediaType says", () => {
    const { mediaType: _m, ...manifest } = ociManifest();
    const { mediaType: _i, ...index } = ociIndex();
    expect(parseManifest(bytes(manifest), undefined).mediaType).toBe(OCI_MANIFEST);
    expect(parseManifest(bytes(index), undefined).mediaType).toBe(OCI_INDEX);
  });

  it("accepts a body that starts with a UTF-8 byte order mark", () => {
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...bytes(ociManifest())]);
    expect(parseManifest(withBom, OCI_MANIFEST).mediaType).toBe(OCI_MANIFEST);
  });

  it("uses the OCI-recommended 4 MiB manifest limit", () => {
    expect(MAX_MANIFEST_BYTES).toBe(4 * 1024 * 1024);
  });
});

describe("refusing invalid manifests", () => {
  it("refuses a manifest whose Content-Type disagrees with its mediaType", () => {
    const error = parseError(ociManifest(), DOCKER_MANIFEST);
    expect(error.message).toContain(`Content-Type "${DOCKER_MANIFEST}"`);
    expect(error.message).toContain(`mediaType "${OCI_MANIFEST}"`);
  });

  it("refuses an index sent with a manifest Content-Type", () => {
    expect(parseError(ociIndex(), OCI_MANIFEST).message).toMatch(/does not match/);
  });

  it("refuses a Docker manifest without its mediaType field", () => {
    const { mediaType: _omit, ...body } = dockerManifest();
    expect(parseError(body, DOCKER_MANIFEST).message).toBe(`a ${DOCKER_MANIFEST} manifest must carry its mediaType field`);
  });

  it("refuses a Docker manifest list without its mediaType field", () => {
    const { mediaType: _omit, ...body } = dockerList();
    expect(parseError(body, DOCKER_MANIFEST_LIST).message).toContain("must carry its mediaType field");
  });

  it("refuses a body that is not JSON", () => {
    expect(parseError("not json {", OCI_MANIFEST).message).toBe("manifest is not valid UTF-8 JSON");
  });

  it("refuses an empty body", () => {
    expect(parseError("", OCI_MANIFEST).message).toBe("manifest is not valid UTF-8 JSON");
  });

  it("refuses a body that is not valid UTF-8", () => {
    const invalid = new Uint8Array([...bytes('{"schemaVersion":2,"x":"'), 0xff, 0xfe, ...bytes('"}')]);
    expect(() => parseManifest(invalid, OCI_MANIFEST)).toThrow(/not valid UTF-8 JSON/);
  });

  it.each([
    ["a JSON array", [ociManifest()]],
    ["JSON null", null],
    ["a JSON string", "\"manifest\""],
    ["a JSON number", "2"],
  ])("refuses %s as a manifest", (_why, body) => {
    expect(parseError(body, OCI_MANIFEST).message).toBe("manifest must be a JSON object");
  });

  it("refuses a mediaType that is not a string", () => {
    expect(parseError(ociManifest({ mediaType: 2 }), OCI_MANIFEST).message).toBe("manifest mediaType must be a string");
  });

  it("refuses a body mediaType that is not a manifest type, naming it", () => {
    const error = parseError(ociManifest({ mediaType: "application/vnd.docker.distribution.manifest.v1+json" }), undefined);
    expect(error.message).toContain('"application/vnd.docker.distribution.manifest.v1+json" is not a supported manifest type');
  });

  it("refuses a body it cannot classify", () => {
    expect(parseError({ schemaVersion: 2 }, undefined).message).toMatch(/cannot tell the manifest's media type/);
  });

  it("refuses schema version 1", () => {
    const error = parseError(ociManifest({ schemaVersion: 1 }), OCI_MANIFEST);
    expect(error.message).toContain(`invalid ${OCI_MANIFEST} at schemaVersion`);
  });

  it("refuses a bad digest in a layer descriptor, naming where it is", () => {
    const manifest = ociManifest({ layers: [{ mediaType: OCI_LAYER, digest: "sha256:1234", size: 1 }] });
    expect(parseError(manifest, OCI_MANIFEST).message).toBe(`invalid ${OCI_MANIFEST} at layers.0.digest: is not a valid digest`);
  });

  it("refuses an uppercase digest in the config descriptor", () => {
    const manifest = ociManifest({ config: { mediaType: OCI_CONFIG, digest: configDigest.toUpperCase(), size: 1 } });
    expect(parseError(manifest, OCI_MANIFEST).message).toContain("at config.digest: is not a valid digest");
  });

  it("refuses a bad digest in an index's manifest descriptor", () => {
    const index = ociIndex({ manifests: [{ mediaType: OCI_MANIFEST, digest: "md5:abc", size: 1 }] });
    expect(parseError(index, OCI_INDEX).message).toBe(`invalid ${OCI_INDEX} at manifests.0.digest: is not a valid digest`);
  });

  it("refuses a bad digest in the subject", () => {
    const manifest = ociManifest({ subject: { mediaType: OCI_MANIFEST, digest: "sha256:zz", size: 1 } });
    expect(parseError(manifest, OCI_MANIFEST).message).toContain("at subject.digest");
  });

  it("refuses a negative size, naming the descriptor", () => {
    const manifest = ociManifest({ layers: [{ mediaType: OCI_LAYER, digest: layer1, size: -1 }] });
    const error = parseError(manifest, OCI_MANIFEST);
    expect(error.message).toContain(`invalid ${OCI_MANIFEST} at layers.0.size`);
    expect(error.message).toMatch(/>=\s*0/);
  });

  it("refuses a fractional size", () => {
    const manifest = ociManifest({ config: { mediaType: OCI_CONFIG, digest: configDigest, size: 1.5 } });
    expect(parseError(manifest, OCI_MANIFEST).message).toContain("at config.size");
  });

  it("refuses a size given as a string", () => {
    const manifest = ociManifest({ config: { mediaType: OCI_CONFIG, digest: configDigest, size: "10" } });
    expect(parseError(manifest, OCI_MANIFEST).message).toContain("at config.size");
  });

  it("refuses a manifest without a config", () => {
    const { config: _omit, ...body } = ociManifest();
    expect(parseError(body, OCI_MANIFEST).message).toContain("at config");
  });

  it("refuses a descriptor with an empty mediaType", () => {
    const manifest = ociManifest({ layers: [{ mediaType: "", digest: layer1, size: 1 }] });
    expect(parseError(manifest, OCI_MANIFEST).message).toContain("at layers.0.mediaType");
  });

  it("refuses annotations whose values are not strings", () => {
    expect(parseError(ociManifest({ annotations: { count: 3 } }), OCI_MANIFEST).message).toContain("at annotations.count");
  });
});
