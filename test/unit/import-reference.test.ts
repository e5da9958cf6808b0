import { describe, expect, it } from "vitest";
import { parseImportSource, parseTargetTag } from "../../shared/domain/import-reference.js";

describe("import references", () => {
  it("reads a registry host, a repository and a tag or digest", () => {
    expect(parseImportSource("myregistry.azurecr.io/samples/nginx:1.27")).toEqual({ ok: true, value: { registry: "myregistry.azurecr.io", repository: "samples/nginx", reference: { tag: "1.27" } } });
    expect(parseImportSource("127.0.0.1:5000/app")).toEqual({ ok: true, value: { registry: "127.0.0.1:5000", repository: "app", reference: { tag: "latest" } } });
    const digest = `sha256:${"a".repeat(64)}`;
    expect(parseImportSource(`localhost/app@${digest}`)).toEqual({ ok: true, value: { registry: "localhost", repository: "app", reference: { digest } } });
  });

  it("reads a source without a host as this registry's, and Docker Hub's short names under library/", () => {
    expect(parseImportSource("hello-world:v1")).toEqual({ ok: true, value: { registry: undefined, repository: "hello-world", reference: { tag: "v1" } } });
    expect(parseImportSource("team/app:v1").ok && parseImportSource("team/app:v1")).toMatchObject({ value: { registry: undefined, repository: "team/app" } });
    expect(parseImportSource("docker.io/alpine:3.20")).toEqual({ ok: true, value: { registry: "registry-1.docker.io", repository: "library/alpine", reference: { tag: "3.20" } } });
    expect(parseImportSource("docker.io/bitnami/redis")).toMatchObject({ value: { registry: "registry-1.docker.io", repository: "bitnami/redis" } });
  });

  it("names what is wrong", () => {
    expect(parseImportSource("Registry.io/UPPER:tag")).toMatchObject({ ok: false, message: expect.stringContaining('"UPPER"') });
    expect(parseImportSource("host.io/app@sha256:abc")).toMatchObject({ ok: false, message: expect.stringContaining("not a digest") });
    expect(parseTargetTag("app")).toMatchObject({ ok: false, message: expect.stringContaining("<repository>:<tag>") });
    expect(parseTargetTag("team/app:v1")).toEqual({ ok: true, value: { repository: "team/app", tag: "v1" } });
  });
});
