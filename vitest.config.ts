import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration and end-to-end tests start emulators and real clients.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
