/**
 * CPU time per process, from /proc (Linux): which process burned the CPU during a phase
 * (the client, the registry, Azurite, the Cosmos DB server, docker-registry). Where
 * /proc is missing the readings are simply absent.
 */
import { readFileSync, readdirSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat; 100 on every mainstream Linux build. */
const CLOCK_TICKS = 100;

export interface ProcessRef {
  label: string;
  pid: number;
}

/** utime + stime of all the process's threads, in seconds; undefined if unreadable. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after ")".
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** A process's user and system CPU, minor page faults and resident memory, as text ("user 0.91 sys 0.45, page faults 9228, RSS 117 MiB"). */
export function processDetail(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024;
    // minflt, utime and stime: fields 10, 14 and 15 of the whole line (7, 11 and 12 after ")").
    return `user ${(Number(fields[11]) / CLOCK_TICKS).toFixed(2)} sys ${(Number(fields[12]) / CLOCK_TICKS).toFixed(2)}, page faults ${fields[7]}, RSS ${rssMiB.toFixed(0)} MiB`;
  } catch {
    return undefined;
  }
}

/** The direct children of a process, with their command lines. */
export function childProcesses(parentPid: number): Array<{ pid: number; commandLine: string }> {
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((entry) => /^\d+$/.test(entry));
  } catch {
    return [];
  }
  const children: Array<{ pid: number; commandLine: string }> = [];
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== parentPid) continue;
      const commandLine = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      children.push({ pid: Number(entry), commandLine });
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

/** Busy CPU seconds of the whole machine (all CPUs, from /proc/stat); undefined if unreadable. */
export function machineBusySeconds(): number | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    // cpu  user nice system idle iowait irq softirq steal ...
    const [user, nice, system, , , irq, softirq] = line.trim().split(/\s+/).slice(1).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0)) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Label under which readings carry the machine's busy time; deltas turn it into OTHER. */
const MACHINE = "(machine)";
/** CPU burned by processes the benchmark did not start (other work on the machine). */
export const OTHER = "other-processes";

export type CpuReading = Map<string, number>;

/** Readings of each process, plus the machine's total so that other load shows up. */
export function readCpu(processes: readonly ProcessRef[]): CpuReading {
  const reading: CpuReading = new Map();
  const machine = machineBusySeconds();
  if (machine !== undefined) reading.set(MACHINE, machine);
  for (const { label, pid } of processes) {
    const seconds = cpuSeconds(pid);
    if (seconds !== undefined) reading.set(label, seconds);
  }
  return reading;
}

/** CPU seconds each process used between two readings, and what the rest of the machine used. */
export function cpuDelta(before: CpuReading, after: CpuReading): Record<string, number> {
  const delta: Record<string, number> = {};
  let ours = 0;
  for (const [label, seconds] of after) {
    const start = before.get(label);
    if (start === undefined || label === MACHINE) continue;
    delta[label] = Math.round((seconds - start) * 100) / 100;
    ours += seconds - start;
  }
  const machineBefore = before.get(MACHINE);
  const machineAfter = after.get(MACHINE);
  if (machineBefore !== undefined && machineAfter !== undefined) {
    delta[OTHER] = Math.max(0, Math.round((machineAfter - machineBefore - ours) * 100) / 100);
  }
  return delta;
}

/**
 * Waits, up to `maxMs`, for a second in which the machine is nearly idle (less than
 * `threshold` CPUs busy), so that other work does not skew the figures. Returns the busy
 * CPUs of the last second sampled (undefined without /proc).
 */
export async function waitForQuietMachine(maxMs: number, threshold = 0.25): Promise<number | undefined> {
  const deadline = Date.now() + maxMs;
  let busy: number | undefined;
  do {
    const start = machineBusySeconds();
    const began = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
    const end = machineBusySeconds();
    if (start === undefined || end === undefined) return undefined;
    busy = (end - start) / ((Date.now() - began) / 1000);
    if (busy < threshold) return busy;
  } while (Date.now() < deadline);
  return busy;
}

/** Adds `delta` into `total`, label by label. */
export function addCpu(total: Record<string, number>, delta: Record<string, number>): void {
  for (const [label, seconds] of Object.entries(delta)) total[label] = Math.round(((total[label] ?? 0) + seconds) * 100) / 100;
}
