/**
 * The resource's syncBandwidth, followed during a long sync. Configuration changes normally
 * reach the edge through the feed (its configurationVersion), but a full sync reads no feed
 * until it ends: an operator raising the cap of a slow first sync would wait for the very sync
 * they want to speed up. So while a sync runs, the configuration is read again every
 * RECHECK_MS and only its cap is applied; the rest of it is taken up as usual at the next
 * feed read.
 */
import type { EdgeConfiguration } from "../../../shared/sync/configuration.js";
import type { RegistryHttpClient } from "../../../shared/remote/http-client.js";
import { errorText, type Logger } from "../log.js";
import type { StateFile } from "../state.js";

/** As often as the progress reports a running sync sends (engine.ts). */
export const RECHECK_MS = 20_000;

export interface BandwidthSettingOptions {
  client: RegistryHttpClient;
  /** /sync/v1/connectedRegistries/<name> */
  base: string;
  state: StateFile;
  log: Logger;
  apply: (syncBandwidth: string | null | undefined) => void;
  recheckMs?: number;
}

export class BandwidthSettingWatch {
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(private readonly options: BandwidthSettingOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.options.recheckMs ?? RECHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    const { state, client, base, log } = this.options;
    // Idle (between cycles, outside the window): the next feed read brings any change.
    if (this.checking || state.state.progress.phase === "idle" || !state.state.configuration) return;
    this.checking = true;
    try {
      const configuration = await client.json<EdgeConfiguration>("GET", `${base}/configuration?instance=${encodeURIComponent(state.state.instanceId)}`);
      this.options.apply(configuration.syncBandwidth);
    } catch (error) {
      log.debug("could not re-read the sync bandwidth setting; the next feed read will", { error: errorText(error) });
    } finally {
      this.checking = false;
    }
  }
}
