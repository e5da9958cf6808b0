/**
 * The /v2/ entry point: parse the path, check the name, authorize, then hand the request
 * to the resource it names. Every error becomes the spec's JSON body in one place.
 */
import type { Principal } from "../auth/authorizer.js";
import type { AccessEntry, DockerRepositoryAction } from "../domain/docker-scope.js";
import type { Handler, HandlerRequest, HandlerResponse, HttpMethod } from "../http/types.js";
import { getBlob, deleteBlob } from "./blobs.js";
import { listRepositories } from "./catalog.js";
import type { RegistryContext } from "./context.js";
import { RegistryError } from "../domain/registry-errors.js";
import { deleteManifest, getManifest, putManifest } from "./manifests.js";
import { listReferrers } from "./referrers.js";
import { API_VERSION_HEADERS, errorResponse, jsonResponse } from "./respond.js";
import { parseV2Path, type V2Target } from "./route-path.js";
import { listTags } from "./tags.js";
import { cancelUpload, finishUpload, getUploadStatus, patchUpload, startUpload } from "./uploads.js";
import { requireRepositoryName } from "./validate.js";
import { isValidRepositoryName } from "../domain/names.js";
import { logError } from "../observability/log.js";
import { clientClosedResponse, clientGone } from "../http/client-gone.js";

type Operation = {
  actions: DockerRepositoryAction[];
  /** Accesses the operation uses when granted and does without otherwise. */
  optional?: AccessEntry[];
  run: (principal: Principal) => Promise<HandlerResponse>;
};
type Operations = Partial<Record<HttpMethod, Operation>>;

export function createV2Handler(ctx: RegistryContext, log: (message: string) => void = logError): Handler {
  return async (request) => {
    let response: HandlerResponse;
    try {
      response = await dispatch(ctx, request);
    } catch (error) {
      // The host logs a client that went away, once and without a stack: it is not the registry's failure.
      if (clientGone(request)) return clientClosedResponse();
      if (!(error instanceof RegistryError)) {
        // Never the headers: they may carry credentials.
        log(`registry: ${request.method} ${request.url.pathname} failed: ${error instanceof Error ? error.stack : String(error)}`);
      }
      response = errorResponse(
        error instanceof RegistryError ? error : new RegistryError("UNKNOWN", "internal error; the registry logged it"),
        request.method,
      );
    }
    response.headers = { ...API_VERSION_HEADERS, ...response.headers };
    return response;
  };
}

async function dispatch(ctx: RegistryContext, request: HandlerRequest): Promise<HandlerResponse> {
  const target = parseV2Path(request.url.pathname);
  if (!target) throw new RegistryError("UNSUPPORTED", `no registry endpoint at ${request.url.pathname}`, { status: 404 });
  if ("name" in target) requireRepositoryName(target.name);

  const operations = operationsFor(ctx, request, target);
  const operation = operations[request.method as HttpMethod];
  if (!operation) {
    throw new RegistryError("UNSUPPORTED", `${request.method} is not supported on ${request.url.pathname}`, {
      headers: { Allow: Object.keys(operations).join(", ") },
    });
  }
  const access: AccessEntry[] =
    target.kind === "base"
      ? []
      : target.kind === "catalog"
        ? [{ type: "registry", name: "catalog", actions: ["*"] }]
        : [{ type: "repository", name: target.name, actions: operation.actions }];
  const principal = await ctx.authorizer.authorize(request, access, operation.optional);
  return operation.run(principal);
}

function operationsFor(ctx: RegistryContext, request: HandlerRequest, target: V2Target): Operations {
  type Run = Operation["run"];
  const pull = (run: Run): Operation => ({ actions: ["pull"], run });
  const push = (run: Run): Operation => ({ actions: ["push"], run });
  const remove = (run: Run): Operation => ({ actions: ["delete"], run });
  switch (target.kind) {
    case "base": {
      const base = pull(async () => jsonResponse(200, {}));
      return { GET: base, HEAD: base };
    }
    case "catalog":
      return { GET: pull((principal) => listRepositories(ctx, request, principal)) };
    case "tags":
      return { GET: pull(() => listTags(ctx, request, target.name)) };
    case "manifest": {
      const read = pull(() => getManifest(ctx, request, target.name, target.reference));
      return {
        GET: read,
        HEAD: read,
        PUT: push((principal) => putManifest(ctx, request, target.name, target.reference, principal)),
        DELETE: remove((principal) => deleteManifest(ctx, target.name, target.reference, principal, request)),
      };
    }
    case "blob": {
      const read = pull(() => getBlob(ctx, request, target.name, target.digest));
      return { GET: read, HEAD: read, DELETE: remove(() => deleteBlob(ctx, target.name, target.digest)) };
    }
    case "uploads":
      return { POST: { ...push((principal) => startUpload(ctx, request, target.name, principal)), optional: mountSourceAccess(request) } };
    case "upload":
      return {
        GET: push(() => getUploadStatus(ctx, target.name, target.id)),
        PATCH: push(() => patchUpload(ctx, request, target.name, target.id)),
        PUT: push(() => finishUpload(ctx, request, target.name, target.id)),
        DELETE: push(() => cancelUpload(ctx, target.name, target.id)),
      };
    case "referrers":
      return { GET: pull(() => listReferrers(ctx, request, target.name, target.digest)) };
  }
}

/**
 * A cross-repository mount (`?mount=<digest>&from=<repository>`) reads from `from`: as in
 * distribution, the challenge asks for `repository:<from>:pull` too, so a client that
 * follows it gets the mount (201) rather than a full upload. Without that grant the POST
 * still starts an ordinary upload, as the spec's fallback says.
 */
function mountSourceAccess(request: HandlerRequest): AccessEntry[] {
  const params = request.url.searchParams;
  const from = params.get("from");
  if (params.get("mount") === null || from === null || !isValidRepositoryName(from)) return [];
  return [{ type: "repository", name: from, actions: ["pull"] }];
}
