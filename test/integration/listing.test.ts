import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient, errorCode } from "../support/registry-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

describe("tag and catalog listing", () => {
  let stack: TestStack;
  let registry: RegistryClient;
  const tags = ["1.0", "1.1", "2.0", "alpha", "beta", "latest", "v1", "v2"];

  beforeAll(async () => {
    stack = await startTestStack();
    registry = new RegistryClient(stack.registryUrl);
    const image = await registry.pushImage("listing/app", tags[0]!);
    for (const tag of tags.slice(1)) {
      expect((await registry.putManifest("listing/app", tag, image.manifest)).status).toBe(201);
    }
    for (const name of ["listing/a", "listing/b", "listing/c"]) await registry.pushImage(name, "v1");
  });
  afterAll(async () => stack?.destroy());

  it("lists every tag in lexical order", async () => {
    const response = await registry.fetch("/v2/listing/app/tags/list");
    expect(response.status).toBe(200);
    expect(response.headers.get("link")).toBeNull();
    expect(await response.json()).toEqual({ name: "listing/app", tags: [...tags].sort() });
  });

  it("pages tags with n and last, linking to the next page until the end", async () => {
    const seen: string[] = [];
    let path: string | undefined = "/v2/listing/app/tags/list?n=3";
    let pages = 0;
    while (path) {
      const response: Response = await registry.fetch(path);
      const body = (await response.json()) as { tags: string[] };
      expect(body.tags.length).toBeLessThanOrEqual(3);
      seen.push(...body.tags);
      const link = response.headers.get("link");
      path = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : undefined;
      pages++;
    }
    expect(seen).toEqual([...tags].sort());
    expect(pages).toBe(3);
  });

  it("starts after `last`", async () => {
    const body = (await (await registry.fetch("/v2/listing/app/tags/list?last=beta")).json()) as { tags: string[] };
    expect(body.tags).toEqual(["latest", "v1", "v2"]);
  });

  it("answers NAME_UNKNOWN for the tags of a repository that does not exist", async () => {
    const response = await registry.fetch("/v2/listing/nothing/tags/list");
    expect(response.status).toBe(404);
    expect(await errorCode(response)).toBe("NAME_UNKNOWN");
  });

  it("refuses a non-numeric n", async () => {
    const response = await registry.fetch("/v2/listing/app/tags/list?n=many");
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("PAGINATION_NUMBER_INVALID");
  });

  it("lists repositories in the catalog, paged the same way", async () => {
    const all = (await (await registry.fetch("/v2/_catalog")).json()) as { repositories: string[] };
    expect(all.repositories).toEqual(["listing/a", "listing/app", "listing/b", "listing/c"]);
    const first = await registry.fetch("/v2/_catalog?n=2");
    expect(((await first.json()) as { repositories: string[] }).repositories).toEqual(["listing/a", "listing/app"]);
    expect(first.headers.get("link")).toBe('</v2/_catalog?n=2&last=listing%2Fapp>; rel="next"');
    const second = await registry.fetch("/v2/_catalog?n=2&last=listing%2Fapp");
    expect(((await second.json()) as { repositories: string[] }).repositories).toEqual(["listing/b", "listing/c"]);
  });
});
