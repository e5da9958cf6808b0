/**
 * The handshake with the parent (POST .../activate): the configuration this edge serves and
 * syncs, and the feed position a first walk starts from.
 *
 * Sent by the sync engine's first cycle, or earlier by the agent's start (`sendActivation`
 * right after the state is read), so the parent's answer travels while the agent builds its
 * stores and local host (~20-30 ms, about the answer's round trip): a first sync starts that
 * much sooner. The engine handles the answer, or its failure, as if it had asked itself.
 */
import type { EdgeConfiguration } from "../../../shared/sync/configuration.js";
import { MANIFEST_MEDIA_TYPES } from "../../../shared/domain/media-types.js";
import type { RegistryHttpClient } from "../../../shared/remote/http-client.js";
import { AGENT_VERSION } from "../version.js";

export interface ActivateAnswer {
  activation: { status: string; activatedAt?: string };
  configuration: EdgeConfiguration;
  cursor: string;
}

export interface ActivationRequest {
  /** The connected registry's name. */
  name: string;
  instanceId: string;
  /** Where clients and children reach this agent, when the operator said. */
  loginServer?: { host: string; tls: boolean };
}

export function sendActivation(client: RegistryHttpClient, request: ActivationRequest): Promise<ActivateAnswer> {
  return client.json<ActivateAnswer>("POST", `/sync/v1/connectedRegistries/${request.name}/activate`, {
    instanceId: request.instanceId,
    protocolVersions: ["1"],
    capabilities: ["range-resume", "upstream-push"],
    acceptedMediaTypes: [...MANIFEST_MEDIA_TYPES],
    agentVersion: AGENT_VERSION,
    ...(request.loginServer ? { loginServer: request.loginServer } : {}),
  });
}
