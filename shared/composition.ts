/**
 * The cloud registry's composition root: turns configuration into the Cosmos DB and
 * Blob Storage stores and the registry engine on top of them. functions/ and the local
 * host both start here, so they serve the same thing.
 */
import { CosmosClient } from "@azure/cosmos";
import { BlobServiceClient } from "@azure/storage-blob";
import { anonymousAuthorizer, refusingAuthorizer } from "./auth/authorizer.js";
import type { AppConfig } from "./config.js";
import type { RegistryContext } from "./registry/context.js";
import { RunningHashes } from "./registry/running-hashes.js";
import { AzureBlobStore } from "./store/azure-blob/blob-store.js";
import { ARTIFACTS_CONTAINER } from "./store/cosmos/containers.js";
import { CosmosMetadataStore } from "./store/cosmos/metadata-store.js";

export interface CloudServices {
  registry: RegistryContext;
}

export function createCosmosClient(config: Pick<AppConfig, "COSMOS_ENDPOINT" | "COSMOS_KEY">): CosmosClient {
  return new CosmosClient({
    endpoint: config.COSMOS_ENDPOINT,
    key: config.COSMOS_KEY,
    // Endpoint discovery needs a real account's region list; the local server has none.
    connectionPolicy: { enableEndpointDiscovery: !config.COSMOS_ENDPOINT.startsWith("http:") },
  });
}

export function createCloudServices(config: AppConfig): CloudServices {
  const database = createCosmosClient(config).database(config.COSMOS_DATABASE);
  const metadata = new CosmosMetadataStore(database.container(ARTIFACTS_CONTAINER.id));
  const blobs = new AzureBlobStore(BlobServiceClient.fromConnectionString(config.STORAGE_CONNECTION_STRING), {
    containerName: config.BLOB_CONTAINER,
    readUrlSeconds: config.REGISTRY_READ_URL_SECONDS,
  });
  return {
    registry: {
      metadata,
      blobs,
      authorizer: config.REGISTRY_ALLOW_ANONYMOUS ? anonymousAuthorizer : refusingAuthorizer,
      options: { blobDelivery: config.REGISTRY_BLOB_DELIVERY },
      runningHashes: new RunningHashes(),
    },
  };
}
