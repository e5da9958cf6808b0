/**
 * Starts the real local stack (Azurite, the Cosmos DB server, the registry) on free
 * ports in a temporary folder. Tests use the built product in dist/, the same code
 * `npm start` runs; `npm test` builds it first.
 *
 * LOCAL_STORAGE_AUTH=identity starts the deployed storage configuration (scripts/storage-profile.ts).
 *
 * By default the registry is open to anonymous clients (the OCI engine's tests are about
 * the protocol); identity tests pass `anonymous: false`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashPassword } from "../../dist/shared/auth/passwords.js";
import { startLocalStack, type LocalStack, type LocalStackOptions } from "../../dist/scripts/local-stack.js";
import { storageAuthFrom } from "../../dist/scripts/storage-profile.js";

/** The admin key every test stack accepts (its hash is what the stack is configured with). */
export const TEST_ADMIN_KEY = "test-admin-key-not-a-secret";
let testAdminKeyHash: Promise<string> | undefined;

export interface TestStack extends LocalStack {
  dataDir: string;
  /** host:port, as registry clients name it. */
  registryHost: string;
  /** Stops the stack and removes its folder. */
  destroy(): Promise<void>;
}

export async function startTestStack(options: Partial<LocalStackOptions> & { anonymous?: boolean } = {}): Promise<TestStack> {
  const { anonymous = true, ...stackOptions } = options;
  const dataDir = stackOptions.dataDir ?? (await mkdtemp(join(tmpdir(), "registry-test-")));
  testAdminKeyHash ??= hashPassword(TEST_ADMIN_KEY);
  const stack = await startLocalStack({
    log: () => {},
    // The vitest project "identity" re-runs the storage suites with LOCAL_STORAGE_AUTH=identity (vitest.config.ts).
    storageAuth: storageAuthFrom(process.env.LOCAL_STORAGE_AUTH),
    ...stackOptions,
    settings: { REGISTRY_ALLOW_ANONYMOUS: String(anonymous), ADMIN_KEY_HASH: await testAdminKeyHash, ...stackOptions.settings },
    dataDir,
  });
  return {
    ...stack,
    dataDir,
    registryHost: stack.registryUrl.replace(/^http:\/\//, ""),
    destroy: async () => {
      await stack.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
