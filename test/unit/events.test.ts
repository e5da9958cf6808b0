/** Pure parts of events (docs/events.md): scopes and notification patterns, payload shapes, signatures. */
import { describe, expect, it } from "vitest";
import { inScope, matchesNotification, scopeProblem } from "../../shared/domain/event-scope.js";
import { renderPayload } from "../../shared/events/payload.js";
import { signBody, verifySignature } from "../../shared/events/signature.js";

const push = (repository: string, tag?: string) => ({ action: "push" as const, repository, ...(tag ? { tag } : {}) });

describe("webhook scope", () => {
  it("matches as ACR: empty is everything, repo alone is repo:latest, * is a wildcard in either part", () => {
    expect(inScope("", push("any/repo", "x"))).toBe(true);
    expect(inScope("hello", push("hello", "latest"))).toBe(true);
    expect(inScope("hello", push("hello", "v1"))).toBe(false);
    expect(inScope("hello:*", push("hello", "v1"))).toBe(true);
    expect(inScope("hello:*", push("hello"))).toBe(true);
    expect(inScope("hello:v1", push("hello"))).toBe(false);
    expect(inScope("team/*:rel-*", push("team/a/b", "rel-2"))).toBe(true);
    expect(inScope("team/*:rel-*", push("other/a", "rel-2"))).toBe(false);
    expect(inScope("a.b:v1", push("axb", "v1"))).toBe(false);
  });

  it("names what is wrong with a bad scope", () => {
    expect(scopeProblem("hello:*")).toBeUndefined();
    expect(scopeProblem("Hello World")).toContain('"Hello World" is not a scope');
  });
});

describe("connected-registry notification patterns", () => {
  it("match repository, tag or digest, and action", () => {
    expect(matchesNotification("hello:latest:push", push("hello", "latest"))).toBe(true);
    expect(matchesNotification("hello:latest:delete", push("hello", "latest"))).toBe(false);
    expect(matchesNotification("hello:*:*", { action: "delete", repository: "hello", digest: "sha256:ab" })).toBe(true);
    expect(matchesNotification("*:v*:push", push("x/y", "v2"))).toBe(true);
    expect(matchesNotification("hello:sha256:ab:push", { action: "push", repository: "hello", digest: "sha256:ab" })).toBe(true);
    expect(matchesNotification("hello:sha256:cd:push", { action: "push", repository: "hello", digest: "sha256:ab", tag: "v1" })).toBe(false);
  });
});

describe("payloads and signatures", () => {
  const event = {
    id: "5b0c7f0e-0000-4000-8000-000000000001",
    timestamp: "2026-12-01T00:00:00.000Z",
    action: "push" as const,
    target: { mediaType: "application/vnd.oci.image.manifest.v1+json", size: 10, digest: "sha256:ab", repository: "hello", tag: "v1" },
    connectedRegistry: { name: "factory1" },
  };

  it("renders Event Grid (an array of one) and CloudEvents 1.0 with the same id and data", () => {
    const [grid] = JSON.parse(renderPayload(event, "eventgrid", "reg.example.com").body) as Array<Record<string, any>>;
    expect(grid).toMatchObject({ id: event.id, topic: "reg.example.com", subject: "hello:v1", eventType: "Microsoft.ContainerRegistry.ImagePushed", dataVersion: "1.0" });
    expect(grid!.data).toEqual({ id: event.id, timestamp: event.timestamp, action: "push", target: { ...event.target, length: 10 }, connectedRegistry: { name: "factory1" } });
    const cloud = renderPayload(event, "cloudevents", "reg.example.com");
    expect(cloud.contentType).toContain("application/cloudevents+json");
    expect(JSON.parse(cloud.body)).toMatchObject({ specversion: "1.0", id: event.id, source: "reg.example.com", type: "Microsoft.ContainerRegistry.ImagePushed", data: grid!.data });
  });

  it("signs the body so a receiver can verify it, and a changed body fails", () => {
    const body = renderPayload(event, "eventgrid", "r").body;
    const header = signBody("a-shared-secret-of-16+", body);
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature("a-shared-secret-of-16+", body, header)).toBe(true);
    expect(verifySignature("a-shared-secret-of-16+", body.replace("hello", "hellp"), header)).toBe(false);
    expect(verifySignature("another-secret-000000", body, header)).toBe(false);
  });
});
