/**
 * An import from a host name that does not exist fails at once, saying so (issue 16: it
 * took over two minutes of retries and showed only "resolving the source"). The name is
 * answered ENOTFOUND by a stand-in for the resolver in this process, where the registry and
 * its import worker run: no query leaves the machine. A host that refuses connections is
 * still retried: only a name that does not resolve is final.
 */
import dns from "node:dns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManagementClient } from "../support/management-client.js";
import { startTestStack, type TestStack } from "../support/stack.js";

const UNKNOWN_HOST = "no-such-registry.example.test";

describe("import from a host name that does not resolve", () => {
  let stack: TestStack;
  let management: ManagementClient;
  const realLookup = dns.lookup;

  beforeAll(async () => {
    // net.connect resolves through dns.lookup, looked up at each connection.
    (dns as { lookup: unknown }).lookup = ((hostname: string, ...rest: unknown[]) => {
      const callback = rest[rest.length - 1] as (error: NodeJS.ErrnoException | null) => void;
      if (hostname !== UNKNOWN_HOST) return (realLookup as (...args: unknown[]) => unknown)(hostname, ...rest);
      const error: NodeJS.ErrnoException = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", hostname });
      process.nextTick(() => callback(error));
      return undefined;
    }) as typeof dns.lookup;
    stack = await startTestStack({ anonymous: false });
    management = new ManagementClient(stack.registryUrl);
  });

  afterAll(async () => {
    (dns as { lookup: unknown }).lookup = realLookup;
    await stack?.destroy();
  });

  it("fails within seconds with SourceUnreachable naming the host, not after minutes of retries", async () => {
    const started = Date.now();
    const accepted = await management.call("POST", "import", { source: `${UNKNOWN_HOST}/library/alpine:3.20`, targetTags: ["alpine:3.20"] });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    let operation = accepted.body as { id: string; status: string; error?: { code: string; message: string } };
    while (operation.status === "Running" && Date.now() - started < 20_000) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      operation = (await management.call("GET", `operations/${operation.id}`)).body;
    }
    expect(operation.status).toBe("Failed");
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(operation.error?.code).toBe("SourceUnreachable");
    expect(operation.error?.message).toContain(`cannot reach ${UNKNOWN_HOST}: no host has that name`);
    expect(operation.error?.message).toContain("check the source's registry name");
  });
});
