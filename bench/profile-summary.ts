/**
 * Summarises a V8 .cpuprofile (as BENCH_CPU_PROF=1 writes them): the functions with the
 * most self time, the most inclusive time, and the busy time per second of the profile.
 *   node dist/bench/profile-summary.js <file.cpuprofile> [--top=N] [--from=s] [--to=s] [--match=text] [--union=a,b,...]
 * --from/--to keep the samples between those seconds since the profile's start;
 * --match lists the inclusive time of every function whose name or file contains text;
 * --union gives the busy time of the samples with any frame whose name or file contains
 * one of the texts (e.g. everything auth does per request, across its awaits).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const IDLE = new Set(["(idle)", "(program)", "(garbage collector)"]);

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const path = url.replace(/^file:\/\//, "");
  const file = path.includes("/node_modules/") ? path.replace(/^.*\/node_modules\//, "~/") : path.replace(/^.*\/dist\//, "dist/");
  return `${functionName || "(anonymous)"} ${file ? `${file}:${lineNumber + 1}` : ""}`.trim();
}

export function readProfile(file: string): Profile {
  return JSON.parse(readFileSync(file, "utf8")) as Profile;
}

/**
 * Busy time (not idle, not "(program)") between two instants on the clock of
 * process.hrtime (the profile's clock, in µs), and for each group of needles the part of
 * it whose stack has a frame "<function>@<url>" containing one of the needles.
 */
export function busyTimeIn(profile: Profile, fromUs: number, toUs: number, groups: Record<string, string[]>): { busyMs: number; ms: Record<string, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const matched: Record<string, number> = Object.fromEntries(Object.keys(groups).map((g) => [g, 0]));
  let busy = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    const node = byId.get(profile.samples[i]!)!;
    const name = node.callFrame.functionName;
    if (name === "(idle)" || name === "(program)") continue;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    busy += delta;
    const frames: string[] = [];
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame;
      frames.push(`${frame.functionName}@${frame.url}`);
    }
    for (const [group, needles] of Object.entries(groups)) {
      if (frames.some((f) => needles.some((n) => f.includes(n)))) matched[group] = matched[group]! + delta;
    }
  }
  return { busyMs: busy / 1000, ms: Object.fromEntries(Object.entries(matched).map(([g, us]) => [g, us / 1000])) };
}

function main(): void {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith("--"));
  if (!file) {
    console.error("usage: profile-summary.js <file.cpuprofile> [--top=N] [--from=s] [--to=s] [--match=text] [--union=a,b,...]");
    process.exit(2);
  }
  const option = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const top = Number(option("top") ?? "25");
  const from = Number(option("from") ?? "0") * 1e6;
  const to = option("to") !== undefined ? Number(option("to")) * 1e6 : Number.POSITIVE_INFINITY;
  const match = option("match");
  const union = option("union")?.split(",").filter((u) => u.length > 0);
  let unionBusy = 0;

  const profile = readProfile(file);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const perSecond = new Map<number, { busy: number; gc: number }>();
  let t = 0;
  let total = 0;
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    if (t < from || t > to) continue;
    const node = byId.get(profile.samples[i]!)!;
    const name = label(node);
    total += delta;
    const second = Math.floor(t / 1e6);
    const bucket = perSecond.get(second) ?? { busy: 0, gc: 0 };
    perSecond.set(second, bucket);
    if (node.callFrame.functionName === "(garbage collector)") bucket.gc += delta;
    if (IDLE.has(node.callFrame.functionName) && node.callFrame.functionName !== "(garbage collector)") continue;
    bucket.busy += delta;
    busy += delta;
    self.set(name, (self.get(name) ?? 0) + delta);
    const seen = new Set<string>();
    let inUnion = false;
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = label(byId.get(id)!);
      if (union && !inUnion && union.some((u) => frame.includes(u))) inUnion = true;
      if (seen.has(frame)) continue;
      seen.add(frame);
      inclusive.set(frame, (inclusive.get(frame) ?? 0) + delta);
    }
    if (inUnion) unionBusy += delta;
  }
  const ms = (us: number): string => (us / 1000).toFixed(0).padStart(7);
  const pct = (us: number): string => `${((100 * us) / Math.max(1, busy)).toFixed(1).padStart(5)}%`;
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (not idle/program)`);
  console.log(`\nself time, top ${top}:`);
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)} ms ${pct(us)}  ${name}`);
  console.log(`\ninclusive time, top ${top}:`);
  for (const [name, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)} ms ${pct(us)}  ${name}`);
  if (match) {
    console.log(`\ninclusive time of frames matching "${match}":`);
    for (const [name, us] of [...inclusive].filter(([n]) => n.includes(match)).sort((a, b) => b[1] - a[1])) console.log(`${ms(us)} ms ${pct(us)}  ${name}`);
  }
  if (union) console.log(`\nsamples with a frame matching any of ${union.join(", ")}: ${ms(unionBusy)} ms ${pct(unionBusy)}`);
  console.log("\nbusy ms per second of the profile (gc ms):");
  console.log([...perSecond].sort((a, b) => a[0] - b[0]).map(([s, b]) => `${s}:${(b.busy / 1000).toFixed(0)}(${(b.gc / 1000).toFixed(0)})`).join(" "));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) main();
