/**
 * The Cosmos DB database layout the code expects. The local stack creates it from this
 * list; infra/ must create the same (a contract test holds the two together).
 */
export const ARTIFACTS_CONTAINER = { id: "artifacts", partitionKeyPath: "/repository" } as const;

export const IDENTITY_CONTAINER = { id: "identity", partitionKeyPath: "/registry" } as const;

/** The change log; items carry their own TTL, so the container's default is "on, no expiry" (-1). */
export const CHANGES_CONTAINER = { id: "changes", partitionKeyPath: "/registry", defaultTtl: -1 } as const;

/** Long-running operations (imports); ended ones carry a TTL. */
export const OPERATIONS_CONTAINER = { id: "operations", partitionKeyPath: "/registry", defaultTtl: -1 } as const;

export const COSMOS_CONTAINERS = [ARTIFACTS_CONTAINER, IDENTITY_CONTAINER, CHANGES_CONTAINER, OPERATIONS_CONTAINER] as const;
