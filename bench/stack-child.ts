/**
 * Child process that runs our local stack (Azurite, the Cosmos DB server, the registry),
 * so the registry gets its own event loop instead of sharing the benchmark client's, as
 * docker-registry does. Settings come as JSON in argv; it answers "ready" over IPC and
 * stops the stack when told to or when the parent goes away.
 */
import { startLocalStack } from "../scripts/local-stack.js";
import { storageAuthFrom } from "../scripts/storage-profile.js";

const [dataDir, settingsJson] = process.argv.slice(2);
if (!dataDir || !settingsJson) {
  console.error("usage: stack-child.js <data dir> <settings JSON>");
  process.exit(2);
}

const stack = await startLocalStack({
  dataDir,
  settings: JSON.parse(settingsJson) as Record<string, string>,
  storageAuth: storageAuthFrom(process.env.LOCAL_STORAGE_AUTH),
  log: (message) => console.error(`[stack] ${message}`),
});

let stopping: Promise<void> | undefined;
const stop = (): void => {
  stopping ??= stack.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`[stack] stop failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
};
process.on("message", (message) => {
  if (message === "stop") stop();
});
process.on("disconnect", stop);
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.send?.({ ready: true, registryUrl: stack.registryUrl, storageCertificateFile: stack.storageCertificateFile });
