import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

/**
 * The suites that touch storage, run a second time in the deployed storage configuration
 * (LOCAL_STORAGE_AUTH=identity, read by test/support/stack.ts): Azurite in OAuth mode over
 * HTTPS, no account key in the app, blob GETs redirected to user-delegation SAS URLs.
 * Edge-agent suites stay in the key profile only: the edge never talks to storage.
 */
const STORAGE_SUITES = [
  "test/integration/uploads.test.ts",
  "test/integration/manifests.test.ts",
  "test/integration/lost-content.test.ts",
  "test/integration/blob-gc.test.ts",
  "test/integration/upload-cleanup.test.ts",
  "test/integration/import.test.ts",
  "test/e2e/skopeo.test.ts",
  "test/e2e/identity.test.ts",
];

export default defineConfig({
  test: {
    // Integration and end-to-end tests start emulators and real clients.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // At least two files at once, also on a 2-core machine (vitest's default is cores - 1: one
    // there). Most files wait on emulators, sockets and timers rather than compute: on 2 cores the
    // whole suite took 11.4 min with two against 28.9 with one, all green (load average ~1.8).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      { extends: true, test: { name: "key", include: ["test/**/*.test.ts"] } },
      { extends: true, test: { name: "identity", include: STORAGE_SUITES, env: { LOCAL_STORAGE_AUTH: "identity" } } },
    ],
  },
});
