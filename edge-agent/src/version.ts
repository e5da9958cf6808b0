/**
 * The agent's version: `connected-registry --version`, the User-Agent it sends its parent and
 * the handshake's agentVersion. Kept equal to edge-agent/package.json's version by
 * test/unit/edge-version.test.ts (a constant, so the bundle and the tsc build agree without
 * reading package.json at run time, which the bundle no longer sits next to in a checkout).
 */
export const AGENT_VERSION = "0.1.0";
