/**
 * The edge agent's composition root: local stores, the shared registry engine and token
 * server over them, the sync engine, the children's sync endpoints, metrics and status,
 * all on one HTTP(S) server.
 */
import { EdgeNotifications } from "./notifications.js";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TokenIssuer } from "../../shared/auth/jwt.js";
import { generateSigningKeyPem, loadSigningKey } from "../../shared/auth/signing-key.js";
import { AttemptLimiter } from "../../shared/auth/attempt-limiter.js";
import { PasswordCheckPool } from "../../shared/auth/password-check-pool.js";
import { PasswordLogin } from "../../shared/auth/password-login.js";
import { TokenAuthorizer } from "../../shared/auth/token-authorizer.js";
import { TokenDirectory } from "../../shared/auth/token-directory.js";
import { createJwksHandler, createTokenHandler } from "../../shared/auth/token-server.js";
import { MANIFEST_MEDIA_TYPES } from "../../shared/domain/media-types.js";
import { startLocalHost, type LocalHost } from "../../shared/http/local-host.js";
import { ALL_METHODS, type RouteDefinition } from "../../shared/http/types.js";
import { refuseV2 } from "../../shared/registry/respond.js";
import { ChangeLog } from "../../shared/registry/change-log.js";
import type { RegistryContext } from "../../shared/registry/context.js";
import { ContentPresence } from "../../shared/registry/content-presence.js";
import { RunningHashes } from "../../shared/registry/running-hashes.js";
import { createV2Handler } from "../../shared/registry/v2-handler.js";
import { CertificateReloader, type SecureContextTarget } from "./certificate-reloader.js";
import { withCertificateExpiry } from "./certificate-expiry.js";
import { createChildrenHandler } from "./children.js";
import { createLivenessHandler, createReadinessHandler } from "./health.js";
import { lockDataFolder, type DataFolderLock } from "./data-folder-lock.js";
import { LocalIdentityStore } from "./local-identity.js";
import { errorText, levelFromParent, type Logger } from "./log.js";
import { Metrics } from "./metrics.js";
import type { StartOptions } from "./options.js";
import { refuseWritesWhenReadOnly } from "./read-only.js";
import { StateFile } from "./state.js";
import { statusView } from "./status.js";
import { createStatusPageHandler } from "./status-page.js";
import { asDiskWriteError, BLOB_WRITES, CHANGE_LOG_WRITES, METADATA_WRITES, reportingWrites } from "./store/disk-errors.js";
import { guardDataFolder } from "./store/data-folder-guard.js";
import { DiskGuard } from "./store/disk-guard.js";
import { refuseUploadsWhenFull } from "./refuse-when-full.js";
import { FsChangeStore } from "./store/fs-change-store.js";
import type { GarbageCollector } from "./gc/collector.js";
import { createEdgeGc } from "./gc/edge-gc.js";
import { GuardedFsBlobStore, GuardedFsMetadataStore } from "./gc/guarded-stores.js";
import { UseTracker } from "./gc/use-tracker.js";
import { Applier } from "./sync/applier.js";
import { ContentFetcher } from "./sync/content-fetcher.js";
import { EdgeFilters } from "./sync/filters.js";
import { sendActivation } from "./sync/activation.js";
import { SyncEngine } from "./sync/engine.js";
import { RunProgress } from "./sync/run-progress.js";
import { AGENT_VERSION } from "./version.js";
import { RegistryHttpClient } from "../../shared/remote/http-client.js";
import { describeProxy, proxyFor } from "../../shared/remote/proxy.js";
import { LocalOnlyContent } from "./sync/local-only.js";
import { UpstreamPusher } from "./sync/upstream.js";
import { BandwidthLimit, followCap } from "./sync/bandwidth.js";
import { BandwidthSettingWatch } from "./sync/bandwidth-setting.js";
import { SyncWindow } from "./sync/sync-window.js";
import { unknownTokenMessage } from "./login-messages.js";
import { pullThroughHandler } from "./pull-through/pull-through.js";

/** Short-lived, as in the cloud: a client token removed at the parent stops working within this. */
const ACCESS_TOKEN_SECONDS = 300;
const REFRESH_TOKEN_SECONDS = 24 * 60 * 60;
/** The local identity store is in memory, so the directory's cache only saves recompiling scope maps. */
const TOKEN_STATE_MS = 1000;
/** Password checks that may wait for a thread before the next is answered 429; a wrong pair is refused again without scrypt this long. */
const PASSWORD_CHECK_QUEUE = 16;
const REFUSED_PASSWORD_MS = 10_000;

export interface EdgeAgent {
  url: string;
  /** Garbage collection on demand (the disk-limit work calls it when the budget is reached). */
  collectGarbage: GarbageCollector["collect"];
  state: StateFile;
  metrics: Metrics;
  /** The disk limits and the disk conditions (store/disk-guard.ts). */
  disk: DiskGuard;
  stop(): Promise<void>;
}

export class DataFolderError extends Error {}

/** For tests: the clock sync windows are judged by (windows last an hour at least, so a test moves the clock). */
export interface AgentHooks {
  now?: () => Date;
  /** How often a running sync re-reads the resource's syncBandwidth (sync/bandwidth-setting.ts). */
  bandwidthRecheckMs?: number;
}

export async function startEdgeAgent(options: StartOptions, log: Logger, hooks: AgentHooks = {}): Promise<EdgeAgent> {
  const { dataDir } = options;
  await mkdir(dataDir, { recursive: true });
  // Before anything in the folder is read or written: a second agent is refused here.
  const folderLock = await lockDataFolder(dataDir, {
    takenOver: (holder, reason) => log.warn("took over the data folder's lock from an agent that is gone", { holder, reason }),
  });
  // While this agent runs, its writes never make its data folder again nor go to another one (data-folder-guard.ts).
  const unguard = await guardDataFolder(dataDir);
  const lock: DataFolderLock = {
    path: folderLock.path,
    release: async () => {
      unguard();
      await folderLock.release();
    },
  };
  try {
    return await startLocked(options, log, lock, hooks);
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function startLocked(options: StartOptions, log: Logger, lock: DataFolderLock, hooks: AgentHooks): Promise<EdgeAgent> {
  const { connection, dataDir } = options;
  const name = connection.connectedRegistryName;
  const state = await StateFile.open(dataDir);
  if (state.state.connectedRegistryName && state.state.connectedRegistryName !== name) {
    throw new DataFolderError(
      `the data folder ${dataDir} belongs to connected registry "${state.state.connectedRegistryName}", not "${name}": use another --data folder`,
    );
  }
  const client = new RegistryHttpClient({
    protocol: connection.parentEndpointProtocol,
    endpoint: connection.parentGatewayEndpoint,
    username: connection.syncTokenName,
    password: connection.syncTokenPassword,
    ...(options.parentCa ? { ca: options.parentCa } : {}),
    ...(options.proxy ? { proxy: options.proxy } : {}),
    userAgent: `connected-registry/${AGENT_VERSION}`,
    tokenWhenDenied: true,
  });
  const loginServer = options.loginServer ? { host: options.loginServer, tls: Boolean(options.tls) } : undefined;
  // The handshake travels while the stores and the local host are made (sync/activation.ts); the
  // engine's first cycle takes its answer, or its failure (handled there, hence nothing here).
  // A start that fails after this has still said hello: the parent shows the edge online until
  // its heartbeat sweep, as after a crash.
  const activationSent = sendActivation(client, { name, instanceId: state.state.instanceId, ...(loginServer ? { loginServer } : {}) });
  activationSent.catch(() => {});
  await state.update((s) => {
    s.connectedRegistryName = name;
  });

  const signingKey = loadSigningKey(await readOrCreate(join(dataDir, "signing-key.pem"), generateSigningKeyPem));
  const issuer = new TokenIssuer(signingKey);
  const identity = new LocalIdentityStore();
  identity.load(state.state.configuration, state.state.configurationReceivedAt ?? new Date().toISOString());
  // scrypt off libuv's thread pool, which serves the content store's file reads (docs/identity.md).
  const passwordChecks = new PasswordCheckPool({ workers: options.logins.passwordCheckWorkers, maxQueue: PASSWORD_CHECK_QUEUE });
  const directory = new TokenDirectory(identity, TOKEN_STATE_MS, Date.now, {
    verify: (password, stored) => passwordChecks.verify(password, stored),
    refusedPairMs: REFUSED_PASSWORD_MS,
    unknownTokenMessage: (tokenName) => unknownTokenMessage(tokenName, state.state),
  });
  const login = new PasswordLogin(
    directory,
    new AttemptLimiter({
      windowMs: options.logins.failureWindowSeconds * 1000,
      perAddress: options.logins.failuresPerAddress,
      perName: options.logins.failuresPerToken,
    }),
    { refusalDelayMs: options.logins.refusalDelayMs, warn: (message, fields) => log.warn(message, fields) },
  );
  const authorizer = new TokenAuthorizer(directory, issuer, { loginServer: undefined, anonymousPull: false }, login);

  const metrics = new Metrics();
  // Every use of stored content is recorded, so garbage collection never deletes what is in use (gc/use-tracker.ts).
  const tracker = new UseTracker();
  const contentStore = new GuardedFsBlobStore(dataDir, tracker);
  const disk = new DiskGuard({
    dataDir,
    ...(options.maxStorageBytes !== undefined ? { maxStorageBytes: options.maxStorageBytes } : {}),
    ...(options.minFreeBytes !== undefined ? { minFreeBytes: options.minFreeBytes } : {}),
    blobs: contentStore,
    state,
    metrics,
    log,
  });
  // Writes the volume refuses (full, failing, read-only) become DISK_ERROR, not a generic failure.
  state.onWrite = (error) => (error === undefined ? disk.succeeded("state") : void asDiskWriteError(error, "state", disk));
  const blobs = reportingWrites(contentStore, BLOB_WRITES, "content", disk);
  const metadata = reportingWrites(new GuardedFsMetadataStore(join(dataDir, "metadata"), tracker), METADATA_WRITES, "metadata", disk);
  const changeStore = reportingWrites(await FsChangeStore.open(join(dataDir, "changes")), CHANGE_LOG_WRITES, "change-log", disk);
  const changes = new ChangeLog(changeStore, { graceMs: 30_000, log: (message) => log.warn(message) });
  const contentPresence = new ContentPresence(blobs);
  const gc = createEdgeGc({ dataDir, blobs, metadata, changeStore, tracker, contentPresence, state, metrics, log });
  // Out of room, the disk guard asks for a collection before it waits.
  disk.collectWith(() => gc.collector.collect());
  // Images arriving or leaving that match this registry's notifications, for the parent (docs/events.md).
  const notifications = await EdgeNotifications.open(dataDir, () => state.state.configuration?.notifications ?? [], log);
  // The connected registry's tag and platform filters (docs/edge-agent.md "Filters").
  const filters = new EdgeFilters(() => state.state.configuration);
  const registry: RegistryContext = {
    explainMissingManifest: (repository, reference) => filters.explainMissing(metadata, blobs, repository, reference),
    metadata,
    blobs,
    authorizer,
    options: { blobDelivery: "stream" },
    runningHashes: new RunningHashes(),
    contentPresence,
    changes,
    holdReferences: (digests, work) => tracker.hold(digests, work),
    // A child's pushes are recorded with its name: it skips them in its feed, and they go on up.
    originOf: async (tokenName) => identity.childOf(tokenName, state.state.configuration),
    events: notifications,
  };

  // One cap for every download and upstream push body; the window stops both when it closes.
  const bandwidth = new BandwidthLimit();
  followCap(bandwidth, options.maxBandwidth, state.state.configuration?.syncBandwidth, log);
  const window = new SyncWindow(hooks.now ?? (() => new Date()), () => state.state.configuration);
  const runProgress = new RunProgress();
  const fetcher = new ContentFetcher(client, blobs, {
    bandwidth,
    window,
    concurrency: options.concurrency,
    acceptedMediaTypes: [...MANIFEST_MEDIA_TYPES],
    onDownloadPlanned: (size) => runProgress.downloadPlanned(size),
    onBytes: (n) => {
      runProgress.bytesArrived(n);
      metrics.bytesFetched.inc(n);
      state.touch((s) => {
        s.progress.bytesFetched += n;
      });
    },
    log: (message) => log.debug(message),
    room: disk,
    keepsChild: (repository, child) => filters.keepsPlatform(repository, child.platform),
  });
  const applier = new Applier(registry, fetcher, window);
  const upstream = new UpstreamPusher(registry, client, state, log, metrics, { bandwidth, window }, options.upstreamChunkBytes);
  const engine = new SyncEngine({
    name,
    client,
    applier,
    notifications,
    upstream,
    localOnly: new LocalOnlyContent({ applier, metadata, changes, client, upstream, log, mode: () => state.state.configuration?.mode }),
    metadata,
    state,
    log,
    metrics,
    intervalMs: options.syncIntervalSeconds * 1000,
    window,
    ...(loginServer ? { loginServer } : {}),
    activationSent,
    parentProtocol: connection.parentEndpointProtocol,
    onConfiguration: (configuration, receivedAt) => {
      identity.load(configuration, receivedAt);
      followCap(bandwidth, options.maxBandwidth, configuration.syncBandwidth, log);
      if (!options.logLevel) log.setLevel(levelFromParent(configuration.logging));
    },
    disk,
    usage: async () => {
      // The disk guard's figures: its walk of the content store is shared with the budget checks.
      const { storedBytes, freeBytes } = await disk.diskStatus();
      return { bytes: storedBytes, repositories: (await metadata.listRepositories({ limit: 10_000, after: undefined })).length, freeBytes };
    },
    runProgress,
    localChanges: changes,
    filters,
  });
  if (!options.logLevel && state.state.configuration) log.setLevel(levelFromParent(state.state.configuration.logging));

  const mode = (): "ReadOnly" | "ReadWrite" | undefined => state.state.configuration?.mode;
  // A pull of in-scope content the edge lacks fetches it from the parent first (pull-through/).
  const v2 = pullThroughHandler({
    inner: createV2Handler(registry, (message) => log.error(message)),
    registry, client, blobs, setting: options.pullThrough, bandwidth, room: disk, log,
    // Only while active: a deactivated edge fetches nothing more from its parent.
    repositories: () => (state.state.activation.status === "Active" ? (state.state.configuration?.repositories ?? []) : []),
    acceptedMediaTypes: [...MANIFEST_MEDIA_TYPES],
    onBytes: (n) => metrics.bytesFetched.inc(n),
    keepsChild: (repository, child) => filters.keepsPlatform(repository, child.platform),
    filtered: (repository, reference) => filters.filteredMiss(metadata, blobs, repository, reference),
    explainChild: (repository, index, child) => filters.explainChild(repository, index, child),
  });
  const routes: RouteDefinition[] = [
    {
      name: "registry-v2",
      route: "v2/{*path}",
      // Every method: the engine answers 405 UNSUPPORTED naming what the resource allows.
      methods: ALL_METHODS,
      handler: metrics.count("v2", refuseWritesWhenReadOnly(refuseUploadsWhenFull(v2, disk, () => name), mode, () => name)),
      refuse: refuseV2,
      uploads: true,
    },
    {
      name: "token-server",
      route: "oauth2/token",
      methods: ["GET", "POST"],
      handler: metrics.count("token", createTokenHandler(directory, login, issuer, { loginServer: undefined, accessTokenSeconds: ACCESS_TOKEN_SECONDS, refreshTokenSeconds: REFRESH_TOKEN_SECONDS })),
    },
    { name: "jwks", route: ".well-known/jwks.json", methods: ["GET"], handler: createJwksHandler(signingKey.jwks) },
    {
      name: "sync",
      route: "sync/v1/connectedRegistries/{*path}",
      methods: ["GET", "POST"],
      handler: metrics.count("sync", createChildrenHandler({ authorizer, changes, client, state, log })),
    },
    { name: "metrics", route: "metrics", methods: ["GET"], handler: metrics.handler() },
    {
      name: "status",
      route: "status",
      methods: ["GET"],
      handler: async () => ({ status: 200, headers: { "Content-Type": "application/json" }, body: JSON.stringify(statusView(state.state, { names: false })) }),
    },
    // The same facts for a person, as a page: names only for a client token (status-page.ts).
    { name: "status-page", route: "console/{*path}", methods: ["GET", "HEAD"], handler: createStatusPageHandler(() => state.state, () => disk.diskStatus(), (name, password, address) => login.check(name, password, address, false)) },
    // For probes (deploy/kubernetes, deploy/systemd): no auth, no names, 200 or 503 with a reason.
    { name: "healthz", route: "healthz", methods: ["GET"], handler: createLivenessHandler() },
    { name: "readyz", route: "readyz", methods: ["GET"], handler: createReadinessHandler(dataDir, () => state.state) },
  ];
  let host: LocalHost;
  try {
    host = await startLocalHost(
      routes,
      [
        // Abandoned uploads, downloads and old change-log entries, hourly even when collections are off (gc/collector.ts owns all cleanup).
        { name: "collect-leftovers", schedule: "0 17 * * * *", run: async () => void (await gc.collector.collectLeftovers()) },
      ],
      {
        host: options.host,
        port: options.port,
        ...(options.tls ? { tls: { cert: options.tls.cert, key: options.tls.key } } : {}),
        limits: options.httpLimits,
        log: (message, level = "error") => log[level](message),
      },
    );
  } catch (error) {
    client.close();
    throw new DataFolderError(`cannot listen on ${options.host}:${options.port}: ${errorText(error)}`);
  }
  // Renewed certificate files are served without a restart (cert-manager, ACME clients).
  const reloader = options.tls
    ? new CertificateReloader(host.server as unknown as SecureContextTarget, options.tls, options.tls, log, {
        checkIntervalSeconds: options.tls.checkIntervalSeconds,
        onServing: (certificate) => {
          const conditions = withCertificateExpiry(state.state.conditions, new Date(certificate.validTo), new Date());
          // Checked at every poll: write only when it changed.
          if (JSON.stringify(conditions) === JSON.stringify(state.state.conditions ?? [])) return;
          void state
            .update((s) => {
              s.conditions = withCertificateExpiry(s.conditions, new Date(certificate.validTo), new Date());
            })
            .catch((error: unknown) => log.error("cannot record the certificate's expiry in the data folder", { error: errorText(error) }));
        },
      })
    : undefined;
  await reloader?.start();
  if (!options.tls) log.warn("serving plain HTTP (--http): credentials and content cross the network unencrypted; use --tls-cert/--tls-key outside a trusted network");
  const parentUrl = `${connection.parentEndpointProtocol}://${connection.parentGatewayEndpoint}`;
  const proxy = options.proxy ? proxyFor(options.proxy, new URL(parentUrl)) : undefined;
  log.info("connected registry serving", { name, url: host.url, dataDir, parent: parentUrl, ...(proxy ? { proxy: describeProxy(proxy) } : {}) });
  engine.start();
  const bandwidthSetting = new BandwidthSettingWatch({
    client,
    base: `/sync/v1/connectedRegistries/${name}`,
    state,
    log,
    apply: (syncBandwidth) => followCap(bandwidth, options.maxBandwidth, syncBandwidth, log),
    ...(hooks.bandwidthRecheckMs ? { recheckMs: hooks.bandwidthRecheckMs } : {}),
  });
  bandwidthSetting.start();
  gc.scheduler.start();

  return {
    url: host.url,
    collectGarbage: (options) => gc.collector.collect(options),
    state,
    metrics,
    disk,
    stop: async () => {
      reloader?.stop();
      bandwidthSetting.stop();
      await gc.scheduler.stop();
      await engine.stop();
      await host.close();
      client.close();
      await passwordChecks.close();
      // Their append handles would otherwise be closed by the garbage collector (an agent in a test process).
      await changeStore.close();
      await notifications.close();
      await state.close();
      await lock.release();
    },
  };
}

async function readOrCreate(file: string, create: () => string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const value = create();
  await writeFile(file, value, { mode: 0o600 });
  return value;
}
