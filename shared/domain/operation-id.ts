/**
 * Import operation ids are "imp-" and a UUID the registry makes (randomUUID). A path segment that is not
 * one names no operation, and must not reach the store: Cosmos DB refuses some characters
 * in ids, and ".." is not an id either.
 */
const operationId = /^imp-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isOperationId(id: string): boolean {
  return operationId.test(id);
}
