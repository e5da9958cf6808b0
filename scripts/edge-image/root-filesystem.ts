/**
 * What the image's two layers hold. The runtime layer (Node, its libraries, certificates,
 * the user, the folders) changes only when Node or the build machine's Debian does; the
 * agent layer (the bundled agent and its proxy client) changes with every release, so an
 * edge that upgrades downloads a couple of megabytes, not the runtime again.
 */
import type { CopyrightFile } from "./debian-copyright.js";
import type { LayerEntry } from "./layer.js";
import type { SharedLibrary } from "./shared-libraries.js";

/** Where things are inside the image; the image config and the docs name the same paths. */
export const IMAGE_PATHS = {
  node: "/usr/local/bin/node",
  nodeLicense: "/usr/local/share/doc/node/LICENSE",
  agent: "/opt/connected-registry/connected-registry.mjs",
  /** undici, which the agent imports from beside itself when an outbound proxy is set (scripts/bundle-edge.ts). */
  agentProxyClient: "/opt/connected-registry/undici.mjs",
  data: "/data",
  caBundle: "/etc/ssl/certs/ca-certificates.crt",
} as const;

/** The agent's own user: not root, and not an id a host account is likely to have (distroless uses the same). */
export const IMAGE_USER = { name: "connected-registry", uid: 65532, gid: 65532 } as const;

export interface RuntimeParts {
  node: Buffer;
  nodeLicense: Buffer;
  libraries: readonly SharedLibrary[];
  caBundle: Buffer;
  copyrights: readonly CopyrightFile[];
}

const text = (lines: readonly string[]): Buffer => Buffer.from(`${lines.join("\n")}\n`);

export function runtimeLayerEntries(parts: RuntimeParts): LayerEntry[] {
  const { name, uid, gid } = IMAGE_USER;
  return [
    { type: "file", path: IMAGE_PATHS.node, mode: 0o755, content: parts.node },
    { type: "file", path: IMAGE_PATHS.nodeLicense, mode: 0o644, content: parts.nodeLicense },
    ...parts.libraries.map((library): LayerEntry => ({ type: "file", path: library.path, mode: 0o755, content: library.content })),
    ...parts.copyrights.map((file): LayerEntry => ({ type: "file", path: file.path, mode: 0o644, content: file.content })),
    { type: "file", path: IMAGE_PATHS.caBundle, mode: 0o644, content: parts.caBundle },
    // Names for the ids, so tools that print a process's user (and Node's os.userInfo) work.
    { type: "file", path: "/etc/passwd", mode: 0o644, content: text(["root:x:0:0:root:/root:/sbin/nologin", `${name}:x:${uid}:${gid}:connected registry edge agent:${IMAGE_PATHS.data}:/sbin/nologin`]) },
    { type: "file", path: "/etc/group", mode: 0o644, content: text(["root:x:0:", `${name}:x:${gid}:`]) },
    // glibc's defaults without this file are the same, but name resolution should not rest on a default.
    { type: "file", path: "/etc/nsswitch.conf", mode: 0o644, content: text(["passwd: files", "group: files", "hosts: files dns"]) },
    { type: "directory", path: "/tmp", mode: 0o1777 },
    // Owned by the agent's user: a volume the engine creates here starts with this owner.
    { type: "directory", path: IMAGE_PATHS.data, mode: 0o750, uid, gid },
  ];
}

export function agentLayerEntries(bundle: Buffer, proxyClient: Buffer): LayerEntry[] {
  return [
    { type: "file", path: IMAGE_PATHS.agent, mode: 0o644, content: bundle },
    { type: "file", path: IMAGE_PATHS.agentProxyClient, mode: 0o644, content: proxyClient },
  ];
}
