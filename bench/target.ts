/** A registry under test, started by the benchmark and stopped by it. */
import type { ProcessRef } from "./cpu.js";

export interface Target {
  /** Key in the results, e.g. "distribution", "ours-redirect". */
  key: string;
  baseUrl: URL;
  /** The processes serving it, for CPU readings. */
  processes: ProcessRef[];
  stop(): Promise<void>;
}
