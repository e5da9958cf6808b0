/**
 * The web console's static files, served from the same route table as the registry (so the
 * Function App serves them too): cache headers by kind of file and a strict CSP on every answer.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestStack, type TestStack } from "../support/stack.js";
import { startStackProcess } from "../support/stack-process.js";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ anonymous: false });
}, 60_000);
afterAll(async () => {
  await stack?.destroy();
});

const expectSecurityHeaders = (response: Response): void => {
  const csp = response.headers.get("content-security-policy") ?? "";
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain("unsafe-inline");
  expect(response.headers.get("x-content-type-options")).toBe("nosniff");
};

describe("the web console's files", () => {
  it("redirects /console to /console/ and serves the index there, revalidated on every load", async () => {
    const bare = await fetch(`${stack.registryUrl}/console`, { redirect: "manual" });
    expect(bare.status).toBe(308);
    expect(bare.headers.get("location")).toBe("/console/");
    const index = await fetch(`${stack.registryUrl}/console/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    expectSecurityHeaders(index);
    const html = await index.text();
    // No inline script: the one script is a hashed file the CSP's 'self' allows.
    expect(html).toMatch(/<script type="module" src="assets\/app-[A-Z0-9]+\.js"><\/script>/);
    expect(html).not.toMatch(/<script>|<style>|\son[a-z]+="/);
  });

  it("serves the hashed assets as immutable, and HEAD without a body", async () => {
    const html = await (await fetch(`${stack.registryUrl}/console/`)).text();
    for (const asset of html.match(/assets\/app-[A-Z0-9]+\.(js|css)/g)!) {
      const response = await fetch(`${stack.registryUrl}/console/${asset}`);
      expect(response.status, asset).toBe(200);
      expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(response.headers.get("content-type")).toMatch(asset.endsWith(".js") ? /^text\/javascript/ : /^text\/css/);
      expectSecurityHeaders(response);
      const head = await fetch(`${stack.registryUrl}/console/${asset}`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(Number(head.headers.get("content-length"))).toBe((await response.arrayBuffer()).byteLength);
    }
  });

  it("answers 404 with the JSON error for a file it does not have, and 405 to a write", async () => {
    for (const path of ["/console/assets/nothing.js", "/console/..%2Fpackage.json", "/console/index.html/x"]) {
      const response = await fetch(`${stack.registryUrl}${path}`);
      expect(response.status, path).toBe(404);
      expect((await response.json()).error.code).toBe("NotFound");
    }
    const write = await fetch(`${stack.registryUrl}/console/index.html`, { method: "POST", body: "x" });
    expect(write.status).toBe(405);
    expect(write.headers.get("allow")).toBe("GET, HEAD");
  });

  it("needs no credential for the files, while the API behind them still does", async () => {
    expect((await fetch(`${stack.registryUrl}/console/`)).status).toBe(200);
    expect((await fetch(`${stack.registryUrl}/management/connectedRegistries`)).status).toBe(401);
  });
});

describe("npm start", () => {
  it("prints the console's address, and the console answers there", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "registry-console-start-"));
    const started = await startStackProcess(dataDir);
    try {
      const address = /Web console \(sign in: admin key\) (\S+)/.exec(started.output())?.[1];
      expect(address).toBe(`${started.url}/console/`);
      expect((await fetch(address!)).status).toBe(200);
    } finally {
      await started.signalGroup("SIGTERM");
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
