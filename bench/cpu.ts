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

export type CpuReading = Map<string, number>;

export function readCpu(processes: readonly ProcessRef[]): CpuReading {
  const reading: CpuReading = new Map();
  for (const { label, pid } of processes) {
    const seconds = cpuSeconds(pid);
    if (seconds !== undefined) reading.set(label, seconds);
  }
  return reading;
}

/** CPU seconds each process used between two readings. */
export function cpuDelta(before: CpuReading, after: CpuReading): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [label, seconds] of after) {
    const start = before.get(label);
    if (start !== undefined) delta[label] = Math.round((seconds - start) * 100) / 100;
  }
  return delta;
}

/** Adds `delta` into `total`, label by label. */
export function addCpu(total: Record<string, number>, delta: Record<string, number>): void {
  for (const [label, seconds] of Object.entries(delta)) total[label] = Math.round(((total[label] ?? 0) + seconds) * 100) / 100;
}
