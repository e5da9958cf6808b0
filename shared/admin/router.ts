/**
 * The management API under /management/: authenticate, then route to scope maps,
 * tokens and connected registries. JSON in, JSON out; every failure is an AdminError rendered in one place.
 */
import type { z } from "zod";
import { serviceIdentity } from "../auth/service-name.js";
import type { Handler, HandlerRequest, HandlerResponse } from "../http/types.js";
import type { AdminAuthenticator } from "./admin-auth.js";
import {
  createConnectedRegistrySchema,
  getSettingsSchema,
  listConnectedRegistriesSchema,
  updateConnectedRegistrySchema,
  updatePermissionsSchema,
  type ConnectedRegistryService,
} from "./connected-registries.js";
import { AdminError, adminErrorResponse, adminJson, badRequest, notFound } from "./errors.js";
import { InvalidBodyError, readJson } from "../http/json-body.js";
import type { ImportService } from "../import/service.js";
import { showOperation, startImport } from "./imports.js";
import { createScopeMapSchema, updateScopeMapSchema, type ScopeMapService } from "./scope-maps.js";
import { createTokenSchema, deleteCredentialsSchema, generateCredentialsSchema, updateTokenSchema, type TokenService } from "./tokens.js";
import { logError } from "../observability/log.js";
import { clientClosedResponse, clientGone } from "../http/client-gone.js";
import { isScopeMapReference, isTokenReference } from "../domain/identity-names.js";
import { isValidConnectedRegistryName } from "../domain/connected-registry/index.js";
import { isOperationId } from "../domain/operation-id.js";
import type { ChangeLog } from "../registry/change-log.js";
import type { WebhookService } from "../events/webhooks.js";
import { webhookRoutes } from "./webhooks.js";
import { isValidRepositoryName, isValidTag } from "../domain/names.js";
import { isDigest } from "../domain/digest.js";
import type { RepositoryService } from "./repositories.js";
import type { LocationService } from "./locations.js";

export interface AdminServices {
  authenticator: AdminAuthenticator;
  /** The change log: its epoch is started anew after a restore (docs/operations.md). */
  changes: ChangeLog;
  scopeMaps: ScopeMapService;
  tokens: TokenService;
  connectedRegistries: ConnectedRegistryService;
  imports: ImportService;
  webhooks: WebhookService;
  repositories: RepositoryService;
  /** "Where is it": absent where no inventories are kept. */
  locations?: LocationService;
}

/**
 * What a path segment must look like to name something. A segment that cannot name anything
 * is answered 404 here, before it reaches the store (Cosmos DB refuses "/", backslash and "#" in ids).
 */
type Resource = { noun: string; rule: string; named: (segment: string) => boolean };
const SCOPE_MAP: Resource = { noun: "scope map", rule: "5-60 letters, digits, - and _", named: isScopeMapReference };
const TOKEN: Resource = { noun: "token", rule: "5-50 letters, digits, - and _", named: isTokenReference };
const CONNECTED_REGISTRY: Resource = { noun: "connected registry", rule: "5-50 letters and digits", named: isValidConnectedRegistryName };
const OPERATION: Resource = { noun: "operation", rule: "imp- and a UUID, as the import answered", named: isOperationId };
const REPOSITORY: Resource = { noun: "repository", rule: "lowercase path components separated by /, as on /v2/", named: isValidRepositoryName };
const TAG: Resource = { noun: "tag", rule: "up to 128 letters, digits, _ . and -", named: isValidTag };
const DIGEST: Resource = { noun: "manifest", rule: "a digest such as sha256:<64 hex>", named: isDigest };

type Route = {
  pattern: RegExp;
  /** What each captured segment names, in order, when the pattern captures. */
  names?: Resource | Resource[];
  methods: Record<string, (request: HandlerRequest, params: string[]) => Promise<HandlerResponse>>;
};

export function createAdminHandler(services: AdminServices, log: (message: string) => void = logError): Handler {
  const { scopeMaps, tokens, connectedRegistries, repositories } = services;
  const routes: Route[] = [
    {
      pattern: /^import$/,
      methods: { POST: (request) => startImport(services.imports, request, log) },
    },
    {
      pattern: /^operations\/([^/]+)$/, names: OPERATION,
      methods: { GET: (_request, [id]) => showOperation(services.imports, id!) },
    },
    {
      // After restoring the registry's data from a backup: every edge copies the current state again.
      pattern: /^changeLog\/epoch$/,
      methods: { POST: async () => adminJson(200, { epoch: await services.changes.startEpoch() }) },
    },
    // Repository names hold slashes, so (as ACR's /acr/v1/ API does) what follows a name starts
    // with "_", which no name component can: `<name>/_tags`, `<name>/_manifests/<digest>`.
    {
      pattern: /^repositories$/,
      methods: { GET: async (request) => adminJson(200, await repositories.list(request.url.searchParams)) },
    },
    {
      pattern: /^repositories\/(.+)\/_tags$/, names: REPOSITORY,
      methods: { GET: async (request, [name]) => adminJson(200, await repositories.listTags(name!, request.url.searchParams)) },
    },
    {
      pattern: /^repositories\/(.+)\/_tags\/([^/]+)\/locations$/, names: [REPOSITORY, TAG],
      methods: { GET: async (_request, [name, tag]) => adminJson(200, await requireLocations(services).ofTag(name!, tag!)) },
    },
    {
      pattern: /^repositories\/(.+)\/_manifests\/([^/]+)\/locations$/, names: [REPOSITORY, DIGEST],
      methods: { GET: async (_request, [name, digest]) => adminJson(200, await requireLocations(services).ofManifest(name!, digest!)) },
    },
    {
      pattern: /^repositories\/(.+)\/_tags\/([^/]+)$/, names: [REPOSITORY, TAG],
      methods: {
        DELETE: async (_request, [name, tag]) => {
          await repositories.deleteTag(name!, tag!);
          return { status: 204 };
        },
      },
    },
    {
      pattern: /^repositories\/(.+)\/_manifests\/([^/]+)$/, names: [REPOSITORY, DIGEST],
      methods: { GET: async (_request, [name, digest]) => adminJson(200, await repositories.showManifest(name!, digest!)) },
    },
    {
      pattern: /^repositories\/(.+)$/, names: REPOSITORY,
      methods: { GET: async (_request, [name]) => adminJson(200, await repositories.show(name!)) },
    },
    {
      pattern: /^scopeMaps$/,
      methods: {
        GET: async () => adminJson(200, { value: await scopeMaps.list() }),
        POST: async (request) => adminJson(201, await scopeMaps.create(await readJson(request.body, createScopeMapSchema))),
      },
    },
    {
      pattern: /^scopeMaps\/([^/]+)$/, names: SCOPE_MAP,
      methods: {
        GET: async (_request, [name]) => adminJson(200, await scopeMaps.show(name!)),
        PATCH: async (request, [name]) => adminJson(200, await scopeMaps.update(name!, await readJson(request.body, updateScopeMapSchema))),
        DELETE: async (_request, [name]) => {
          await scopeMaps.delete(name!);
          return { status: 204 };
        },
      },
    },
    {
      pattern: /^tokens$/,
      methods: {
        GET: async () => adminJson(200, { value: await tokens.list() }),
        POST: async (request) => adminJson(201, await tokens.create(await readJson(request.body, createTokenSchema))),
      },
    },
    {
      pattern: /^tokens\/([^/]+)$/, names: TOKEN,
      methods: {
        GET: async (_request, [name]) => adminJson(200, await tokens.show(name!)),
        PATCH: async (request, [name]) => adminJson(200, await tokens.update(name!, await readJson(request.body, updateTokenSchema))),
        DELETE: async (_request, [name]) => {
          await tokens.delete(name!);
          return { status: 204 };
        },
      },
    },
    {
      pattern: /^tokens\/([^/]+)\/credentials\/generate$/, names: TOKEN,
      methods: {
        POST: async (request, [name]) => adminJson(200, await tokens.generateCredentials(name!, await readJson(request.body, generateCredentialsSchema))),
      },
    },
    {
      pattern: /^tokens\/([^/]+)\/credentials\/delete$/, names: TOKEN,
      methods: {
        POST: async (request, [name]) => adminJson(200, await tokens.deleteCredentials(name!, await readJson(request.body, deleteCredentialsSchema))),
      },
    },
    {
      pattern: /^connectedRegistries$/,
      methods: {
        GET: async (request) => adminJson(200, { value: await connectedRegistries.list(readQuery(request, listConnectedRegistriesSchema)) }),
        POST: async (request) => adminJson(201, await connectedRegistries.create(await readJson(request.body, createConnectedRegistrySchema))),
      },
    },
    {
      pattern: /^connectedRegistries\/([^/]+)$/, names: CONNECTED_REGISTRY,
      methods: {
        GET: async (_request, [name]) => adminJson(200, await connectedRegistries.show(name!)),
        PATCH: async (request, [name]) =>
          adminJson(200, await connectedRegistries.update(name!, await readJson(request.body, updateConnectedRegistrySchema))),
        DELETE: async (request, [name]) => {
          await connectedRegistries.delete(name!, { cleanup: request.url.searchParams.get("cleanup") === "true" });
          return { status: 204 };
        },
      },
    },
    {
      pattern: /^connectedRegistries\/([^/]+)\/deactivate$/, names: CONNECTED_REGISTRY,
      methods: { POST: async (_request, [name]) => adminJson(200, await connectedRegistries.deactivate(name!)) },
    },
    {
      pattern: /^connectedRegistries\/([^/]+)\/resync$/, names: CONNECTED_REGISTRY,
      methods: { POST: async (_request, [name]) => adminJson(200, await connectedRegistries.resync(name!)) },
    },
    {
      pattern: /^connectedRegistries\/([^/]+)\/statusHistory$/, names: CONNECTED_REGISTRY,
      methods: { GET: async (_request, [name]) => adminJson(200, await connectedRegistries.statusHistory(name!)) },
    },
    {
      pattern: /^connectedRegistries\/([^/]+)\/clientTokens$/, names: CONNECTED_REGISTRY,
      methods: { GET: async (_request, [name]) => adminJson(200, { value: await connectedRegistries.listClientTokens(name!) }) },
    },
    {
      pattern: /^connectedRegistries\/([^/]+)\/permissions$/, names: CONNECTED_REGISTRY,
      methods: {
        POST: async (request, [name]) =>
          adminJson(200, await connectedRegistries.updatePermissions(name!, await readJson(request.body, updatePermissionsSchema))),
      },
    },
    {
      pattern: /^connectedRegistries\/([^/]+)\/settings$/, names: CONNECTED_REGISTRY,
      methods: {
        POST: async (request, [name]) => {
          const input = await readJson(request.body, getSettingsSchema);
          // The edge reaches its parent where clients reach the registry: the login server, else the host this request used.
          const endpoint = serviceIdentity(request, connectedRegistries.loginServer).service;
          return adminJson(200, await connectedRegistries.getSettings(name!, input, endpoint));
        },
      },
    },
    ...webhookRoutes(services.webhooks),
  ];

  return async (request) => {
    try {
      await services.authenticator.authenticate(request);
      const path = request.url.pathname.replace(/^\/management\/?/, "").replace(/\/$/, "");
      for (const route of routes) {
        const match = route.pattern.exec(path);
        if (!match) continue;
        const method = route.methods[request.method];
        if (!method) {
          throw new AdminError(405, "MethodNotAllowed", `${request.method} is not supported on /management/${path}`, { Allow: Object.keys(route.methods).join(", ") });
        }
        const names = route.names;
        return await method(request, match.slice(1).map((segment, i) => namedSegment(segment, Array.isArray(names) ? names[i] : names)));
      }
      throw notFound(`no management endpoint at /management/${path}`);
    } catch (error) {
      // The host logs a client that went away, once and without a stack.
      if (clientGone(request)) return clientClosedResponse();
      if (error instanceof AdminError) return adminErrorResponse(error);
      if (error instanceof InvalidBodyError) return adminErrorResponse(badRequest(error.message));
      log(`management: ${request.method} ${request.url.pathname} failed: ${error instanceof Error ? error.stack : String(error)}`);
      return adminErrorResponse(new AdminError(500, "InternalError", "internal error; the registry logged it"));
    }
  };
}

function namedSegment(segment: string, resource: Resource | undefined): string {
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    throw notFound(`"${segment}" is not valid percent-encoding`);
  }
  if (resource && !resource.named(name)) throw notFound(`no ${resource.noun} can be named "${name}": a ${resource.noun} name is ${resource.rule}`);
  return name;
}

/** Validates the query string (single values only) against a zod schema. */
function readQuery<T>(request: HandlerRequest, schema: z.ZodType<T>): T {
  const result = schema.safeParse(Object.fromEntries(request.url.searchParams));
  if (!result.success) {
    const problems = result.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message));
    throw badRequest(`invalid query: ${problems.join("; ")}`);
  }
  return result.data;
}

function requireLocations(services: AdminServices): LocationService {
  if (!services.locations) throw notFound("this registry keeps no edge inventories");
  return services.locations;
}
