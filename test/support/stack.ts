/**
 * Starts the real local stack (Azurite, the Cosmos DB server, the registry) on free
 * ports in a temporary folder. Tests use the built product in dist/, the same code
 * `npm start` runs; `npm test` builds it first.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalStack, type LocalStack, type LocalStackOptions } from "../../dist/scripts/local-stack.js";

export interface TestStack extends LocalStack {
  dataDir: string;
  /** host:port, as registry clients name it. */
  registryHost: string;
  /** Stops the stack and removes its folder. */
  destroy(): Promise<void>;
}

export async function startTestStack(options: Partial<LocalStackOptions> = {}): Promise<TestStack> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "registry-test-")));
  const stack = await startLocalStack({ log: () => {}, ...options, dataDir });
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
