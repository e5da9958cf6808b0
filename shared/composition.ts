/**
 * The cloud registry's composition root: turns configuration into the Cosmos DB and
 * Blob Storage stores, the registry engine, the token server and the management API.
 * functions/ and the local host both start here, so they serve the same thing.
 */
import { CosmosClient } from "@azure/cosmos";
import { DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { BlobServiceClient } from "@azure/storage-blob";
import { AdminAuthenticator } from "./admin/admin-auth.js";
import { ConnectedRegistryService, connectedRegistryTokenReferences } from "./admin/connected-registries.js";
import type { AdminServices } from "./admin/router.js";
import { RepositoryService } from "./admin/repositories.js";
import { ScopeMapService } from "./admin/scope-maps.js";
import { TokenService } from "./admin/tokens.js";
import { anonymousAuthorizer } from "./auth/authorizer.js";
import { TokenIssuer } from "./auth/jwt.js";
import { loadSigningKey, type SigningKey } from "./auth/signing-key.js";
import { TokenAuthorizer } from "./auth/token-authorizer.js";
import { TokenDirectory } from "./auth/token-directory.js";
import { AttemptLimiter } from "./auth/attempt-limiter.js";
import { PasswordCheckPool } from "./auth/password-check-pool.js";
import { PasswordLogin } from "./auth/password-login.js";
import type { TokenServerOptions } from "./auth/token-server.js";
import type { AppConfig } from "./config.js";
import { DEFAULT_LINK_REFRESH_MS, type RegistryContext } from "./registry/context.js";
import type { ContentInventory, GcIndex } from "./store/gc-index.js";
import { CosmosGcIndex } from "./store/cosmos/gc-index.js";
import type { HealthChecks } from "./observability/health.js";
import { ChangeLog } from "./registry/change-log.js";
import { ContentPresence } from "./registry/content-presence.js";
import { RunningHashes } from "./registry/running-hashes.js";
import { AzureBlobStore } from "./store/azure-blob/blob-store.js";
import { EmulatorCredential } from "./store/emulator-credential.js";
import { CosmosChangeStore } from "./store/cosmos/change-store.js";
import { CosmosEdgeInventoryStore } from "./store/cosmos/edge-inventory-store.js";
import { LocationService } from "./admin/locations.js";
import { CosmosConnectedRegistryStore } from "./store/cosmos/connected-registry-store.js";
import { ARTIFACTS_CONTAINER, CHANGES_CONTAINER, IDENTITY_CONTAINER, OPERATIONS_CONTAINER } from "./store/cosmos/containers.js";
import { CosmosOperationStore } from "./store/cosmos/operation-store.js";
import { AzureWorkQueue } from "./store/azure-queue/work-queue.js";
import { QueueServiceClient } from "@azure/storage-queue";
import { ImportService } from "./import/service.js";
import { CredentialSealer } from "./import/sealed-credentials.js";
import { CosmosIdentityStore } from "./store/cosmos/identity-store.js";
import { CosmosMetadataStore } from "./store/cosmos/metadata-store.js";
import { CosmosRepositoryStatistics } from "./store/cosmos/repository-statistics.js";
import type { SyncServices } from "./sync/handler.js";
import { createOriginResolver } from "./sync/origin.js";
import { logError, logLine } from "./observability/log.js";
import { CosmosEventStore } from "./store/cosmos/event-store.js";
import { DeliveryWorker } from "./events/delivery-worker.js";
import { EventOutbox } from "./events/outbox.js";
import { WebhookService } from "./events/webhooks.js";

export interface CloudServices {
  registry: RegistryContext;
  /** What GET /health tries: each dependency the registry stands on. */
  health: HealthChecks;
  garbage: { index: GcIndex; inventory: ContentInventory; graceMs: number; linkRefreshMs: number };
  sync: SyncServices;
  tokens: { directory: TokenDirectory; login: PasswordLogin; issuer: TokenIssuer; signingKey: SigningKey; options: TokenServerOptions };
  admin: AdminServices;
  /** Webhook deliveries: the timer drains them (shared/events/). */
  events: { worker: DeliveryWorker; outbox: EventOutbox };
}

/** Links a push relies on are refreshed this often; the collector spares links used within it (blob-gc.ts). */
function linkRefreshMs(config: AppConfig): number {
  return Math.min(DEFAULT_LINK_REFRESH_MS, (config.BLOB_GC_GRACE_SECONDS * 1000) / 4);
}

/** Keys and connection strings locally; in Azure none are set and the managed identity signs in. */
let azureCredential: DefaultAzureCredential | undefined;
const credential = (): DefaultAzureCredential => (azureCredential ??= new DefaultAzureCredential());
const emulatorCredential = new EmulatorCredential();

/** Storage's credential without a connection string: the managed identity, or Azurite's OAuth mode (same code path, another token). */
const storageCredential = (config: AppConfig): TokenCredential => (config.STORAGE_CREDENTIAL === "emulator" ? emulatorCredential : credential());

export function blobService(config: AppConfig): BlobServiceClient {
  return config.STORAGE_CONNECTION_STRING ? BlobServiceClient.fromConnectionString(config.STORAGE_CONNECTION_STRING) : new BlobServiceClient(config.STORAGE_BLOB_ENDPOINT!, storageCredential(config));
}

export function queueService(config: AppConfig): QueueServiceClient {
  return config.STORAGE_CONNECTION_STRING ? QueueServiceClient.fromConnectionString(config.STORAGE_CONNECTION_STRING) : new QueueServiceClient(config.STORAGE_QUEUE_ENDPOINT!, storageCredential(config));
}

export function createCosmosClient(config: Pick<AppConfig, "COSMOS_ENDPOINT" | "COSMOS_KEY">): CosmosClient {
  return new CosmosClient({
    endpoint: config.COSMOS_ENDPOINT,
    ...(config.COSMOS_KEY ? { key: config.COSMOS_KEY } : { aadCredentials: credential() }),
    // Endpoint discovery needs a real account's region list; the local server has none.
    connectionPolicy: { enableEndpointDiscovery: !config.COSMOS_ENDPOINT.startsWith("http:") },
  });
}

export function createCloudServices(config: AppConfig, log: (message: string) => void = logError): CloudServices {
  const database = createCosmosClient(config).database(config.COSMOS_DATABASE);
  const metadata = new CosmosMetadataStore(database.container(ARTIFACTS_CONTAINER.id));
  const identity = new CosmosIdentityStore(database.container(IDENTITY_CONTAINER.id), config.REGISTRY_NAME);
  const blobs = new AzureBlobStore(blobService(config), {
    containerName: config.BLOB_CONTAINER,
    readUrlSeconds: config.REGISTRY_READ_URL_SECONDS,
  });

  const signingKey = loadSigningKey(config.TOKEN_SIGNING_KEY);
  const previousKeys = config.TOKEN_SIGNING_KEY_PREVIOUS ? [loadSigningKey(config.TOKEN_SIGNING_KEY_PREVIOUS)] : [];
  const issuer = new TokenIssuer(signingKey, previousKeys);
  const passwordChecks = new PasswordCheckPool({ workers: config.PASSWORD_CHECK_WORKERS, maxQueue: config.PASSWORD_CHECK_QUEUE });
  const directory = new TokenDirectory(identity, config.TOKEN_STATE_SECONDS * 1000, Date.now, {
    verify: (password, stored) => passwordChecks.verify(password, stored),
    refusedPairMs: config.REFUSED_PASSWORD_CACHE_SECONDS * 1000,
  });
  // In memory, per instance: each Functions instance counts failures on its own (docs/identity.md).
  const login = new PasswordLogin(
    directory,
    new AttemptLimiter({ windowMs: config.LOGIN_FAILURE_WINDOW_SECONDS * 1000, perAddress: config.LOGIN_FAILURES_PER_ADDRESS, perName: config.LOGIN_FAILURES_PER_TOKEN }),
    { refusalDelayMs: config.LOGIN_REFUSAL_DELAY_MS, warn: (message, fields) => process.stderr.write(logLine("warn", message, fields) + "\n") },
  );
  const authorizer = config.REGISTRY_ALLOW_ANONYMOUS
    ? anonymousAuthorizer
    : new TokenAuthorizer(directory, issuer, { loginServer: config.REGISTRY_LOGIN_SERVER, anonymousPull: config.REGISTRY_ANONYMOUS_PULL }, login);

  const scopeMaps = new ScopeMapService(identity);
  const connectedRegistryStore = new CosmosConnectedRegistryStore(database.container(IDENTITY_CONTAINER.id), config.REGISTRY_NAME);
  const edgeInventories = new CosmosEdgeInventoryStore(database.container(IDENTITY_CONTAINER.id), config.REGISTRY_NAME);
  // A token that a connected registry uses (sync or client token) cannot be deleted.
  const tokenService = new TokenService(identity, scopeMaps, connectedRegistryTokenReferences(connectedRegistryStore));
  const connectedRegistries = new ConnectedRegistryService(connectedRegistryStore, identity, scopeMaps, tokenService, config.REGISTRY_LOGIN_SERVER, edgeInventories);
  const entra =
    config.ADMIN_ENTRA_ISSUER && config.ADMIN_ENTRA_AUDIENCE && config.ADMIN_ENTRA_JWKS_URL
      ? { issuer: config.ADMIN_ENTRA_ISSUER, audience: config.ADMIN_ENTRA_AUDIENCE, jwksUrl: config.ADMIN_ENTRA_JWKS_URL }
      : undefined;

  const changes = new ChangeLog(new CosmosChangeStore(database.container(CHANGES_CONTAINER.id), config.REGISTRY_NAME), {
    graceMs: config.CHANGE_FEED_GRACE_SECONDS * 1000,
  });

  // Events are queued in Cosmos with everything else and sent by the worker (docs/events.md).
  const eventStore = new CosmosEventStore(database.container(OPERATIONS_CONTAINER.id), config.REGISTRY_NAME);
  const webhookSealer = new CredentialSealer(signingKey.privateKey, previousKeys.map((key) => key.privateKey), "webhook-secrets");
  const eventSource = config.REGISTRY_LOGIN_SERVER ?? config.REGISTRY_NAME;
  const deliveries = new DeliveryWorker(eventStore, webhookSealer, { retrySeconds: config.WEBHOOK_RETRY_SECONDS, timeoutMs: config.WEBHOOK_TIMEOUT_SECONDS * 1000, source: eventSource, log });
  const outbox = new EventOutbox(eventStore, deliveries);

  const registry: RegistryContext = {
    metadata,
    blobs,
    authorizer,
    options: { blobDelivery: config.REGISTRY_BLOB_DELIVERY, linkRefreshMs: linkRefreshMs(config) },
    runningHashes: new RunningHashes(),
    contentPresence: new ContentPresence(blobs),
    changes,
    originOf: createOriginResolver(connectedRegistryStore, config.TOKEN_STATE_SECONDS * 1000),
    events: outbox,
  };
  const imports = new ImportService(
    registry,
    new CosmosOperationStore(database.container(OPERATIONS_CONTAINER.id), config.REGISTRY_NAME),
    new AzureWorkQueue(queueService(config).getQueueClient(config.IMPORT_QUEUE)),
    new CredentialSealer(
      signingKey.privateKey,
      previousKeys.map((key) => key.privateKey),
    ),
    log,
  );

  const storage = blobService(config);
  return {
    registry,
    health: {
      cosmos: () => database.read(),
      blobStorage: () => storage.getContainerClient(config.BLOB_CONTAINER).getProperties(),
      importQueue: () => queueService(config).getQueueClient(config.IMPORT_QUEUE).getProperties(),
    },
    garbage: {
      index: new CosmosGcIndex(database.container(ARTIFACTS_CONTAINER.id)),
      inventory: blobs,
      graceMs: config.BLOB_GC_GRACE_SECONDS * 1000,
      linkRefreshMs: linkRefreshMs(config),
    },
    sync: { registries: connectedRegistryStore, identity, changes, authorizer, events: outbox, inventories: edgeInventories },
    tokens: {
      directory,
      login,
      issuer,
      signingKey,
      options: {
        loginServer: config.REGISTRY_LOGIN_SERVER,
        accessTokenSeconds: config.ACCESS_TOKEN_SECONDS,
        refreshTokenSeconds: config.REFRESH_TOKEN_SECONDS,
      },
    },
    admin: {
      authenticator: new AdminAuthenticator({ adminKeyHash: config.ADMIN_KEY_HASH, entra }),
      scopeMaps,
      tokens: tokenService,
      connectedRegistries,
      imports,
      changes,
      webhooks: new WebhookService(eventStore, webhookSealer, outbox, deliveries, eventSource),
      repositories: new RepositoryService(registry, new CosmosRepositoryStatistics(database.container(ARTIFACTS_CONTAINER.id))),
      locations: new LocationService(connectedRegistryStore, edgeInventories, metadata),
    },
    events: { worker: deliveries, outbox },
  };
}
