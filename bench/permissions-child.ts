/**
 * Micro-benchmark of the permission check, run in a child process of its own (started
 * with --expose-gc) so that heap figures are its own and the JIT sees only this work:
 *   1. one 500-action scope map: parse (parseScopeMapAction) + compile (new Permissions),
 *      then `allows(repository, action)` by kind of lookup, in ns per check
 *   2. 20,000 token states (a Permissions per token, parsed from one of 2,000 different
 *      500-action scope maps, in a Map keyed by token name as the TokenDirectory holds
 *      them): build time, heap used, and the cost of lookup + check at that size
 * Every loop is bounded by a count and by time. Sends the result over IPC and exits.
 */
import { Permissions } from "../shared/domain/permissions.js";
import { parseScopeMapAction, type ScopeMapAction } from "../shared/domain/scope-map-actions.js";
import { LOOKUP_KINDS, lookups, prng, scopeMapActionTexts, scopeMapShape, type Lookup } from "./scope-map-fixture.js";

export interface PermissionsBenchSettings {
  tokens: number;
  /** Token t uses scope map t % distinctScopeMaps. */
  distinctScopeMaps: number;
  /** Target duration of one timed pass. */
  passMs: number;
  maxStepsPerPass: number;
  /** Stops timing more passes for one figure after this long (3 passes at least). */
  budgetMsPerFigure: number;
  /** Stops building token states after this long (fewer tokens are then reported). */
  buildBudgetMs: number;
}

export interface PermissionsBenchResult {
  actionsPerScopeMap: number;
  /** Parse 500 action strings + compile them, per scope map (median of the samples). */
  compileMicroseconds: number;
  /** ns per allows() on one scope map, by kind of lookup, and over a mix of all kinds. */
  nsPerCheck: Record<string, number>;
  tokens: {
    requested: number;
    built: number;
    distinctScopeMaps: number;
    buildSeconds: number;
    /** Heap used by the Map of token states, after a full GC. */
    heapMiB: number;
    heapKiBPerToken: number;
    rssMiB: number;
    /** Map.get(token name) + allows() on its Permissions, random tokens and mixed lookups. */
    nsPerLookupAndCheck: number;
    /** Map.get(token name) alone, the same random tokens. */
    nsPerLookup: number;
    lookupsTimed: number;
  };
  wrongAnswers: number;
  /** Hits counted by the timed passes (only there so the JIT keeps the work). */
  sink: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
const fullGc = (): void => {
  if (gc) for (let i = 0; i < 3; i++) gc();
};

function compile(texts: readonly string[]): Permissions {
  const parsed: ScopeMapAction[] = [];
  for (const text of texts) {
    const result = parseScopeMapAction(text);
    if (!result.ok) throw new Error(result.message);
    parsed.push(result.action);
  }
  return new Permissions(parsed);
}

/** Keeps the JIT from dropping the checks it times. */
let sink = 0;
const WARM_UP_STEPS = 20_000;

/**
 * Median ns per step of `pass(steps)`: a first pass of `WARM_UP_STEPS` warms the JIT up
 * and sizes the others to ~`passMs` each (at most `maxSteps`); then at least 3 passes,
 * more while `budgetMs` lasts, 12 at most.
 */
function medianNs(pass: (steps: number) => number, settings: PermissionsBenchSettings): number {
  let t0 = process.hrtime.bigint();
  sink += pass(WARM_UP_STEPS);
  const warmNs = Number(process.hrtime.bigint() - t0) / WARM_UP_STEPS;
  const steps = Math.max(WARM_UP_STEPS, Math.min(settings.maxStepsPerPass, Math.round((settings.passMs * 1e6) / warmNs)));
  const samples: number[] = [];
  const deadline = Date.now() + settings.budgetMsPerFigure;
  while (samples.length < 12 && (samples.length < 3 || Date.now() < deadline)) {
    t0 = process.hrtime.bigint();
    sink += pass(steps);
    samples.push(Number(process.hrtime.bigint() - t0) / steps);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

/** `steps` calls of permissions.allows over `list`, round and round. */
function allowsPass(permissions: Permissions, list: readonly Lookup[], steps: number): number {
  let hits = 0;
  for (let i = 0, j = 0; i < steps; i++) {
    const lookup = list[j]!;
    if (permissions.allows(lookup.repository, lookup.action)) hits++;
    if (++j === list.length) j = 0;
  }
  return hits;
}

/** `steps` Map lookups of a token's state by name, nothing else. */
function lookupPass(states: Map<string, Permissions>, names: readonly string[], steps: number): number {
  let found = 0;
  for (let i = 0, j = 0; i < steps; i++) {
    if (states.get(names[j]!) !== undefined) found++;
    if (++j === names.length) j = 0;
  }
  return found;
}

/** `steps` Map lookups of a token's state by name, each followed by allows() on it. */
function lookupAndCheckPass(states: Map<string, Permissions>, names: readonly string[], list: readonly Lookup[], steps: number): number {
  let hits = 0;
  for (let i = 0, j = 0; i < steps; i++) {
    const lookup = list[j]!;
    if (states.get(names[j]!)?.allows(lookup.repository, lookup.action)) hits++;
    if (++j === list.length) j = 0;
  }
  return hits;
}

function run(settings: PermissionsBenchSettings): PermissionsBenchResult {
  // 1. One scope map.
  const shape = scopeMapShape(0);
  const oneMap = scopeMapActionTexts(shape);
  const compileSamples: number[] = [];
  let permissions = compile(oneMap);
  const compileDeadline = Date.now() + settings.budgetMsPerFigure;
  for (let i = 0; i < 400 && (i < 20 || Date.now() < compileDeadline); i++) {
    const t0 = process.hrtime.bigint();
    permissions = compile(oneMap);
    compileSamples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  compileSamples.sort((a, b) => a - b);

  let wrongAnswers = 0;
  const nsPerCheck: Record<string, number> = {};
  const all: Lookup[] = [];
  for (const kind of LOOKUP_KINDS) {
    const list = lookups(shape, kind, 1024, 1);
    for (const lookup of list) if (permissions.allows(lookup.repository, lookup.action) !== lookup.expected) wrongAnswers++;
    all.push(...list);
    nsPerCheck[kind] = medianNs((steps) => allowsPass(permissions, list, steps), settings);
  }
  // The mix, shuffled so the branch predictor cannot learn the order.
  const random = prng(42);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  nsPerCheck["mix of all the above"] = medianNs((steps) => allowsPass(permissions, all, steps), settings);

  // 2. 20,000 token states. The scope maps' texts are made first (and so are not in the
  // heap figure); each token then gets its own Permissions parsed from its map's texts,
  // as the directory builds one per token even when tokens share a scope map.
  const shapes = Array.from({ length: settings.distinctScopeMaps }, (_, i) => scopeMapShape(i));
  const texts = shapes.map(scopeMapActionTexts);
  fullGc();
  const heapBefore = process.memoryUsage().heapUsed;
  const states = new Map<string, Permissions>();
  const names: string[] = [];
  const buildStarted = process.hrtime.bigint();
  const buildDeadline = Date.now() + settings.buildBudgetMs;
  for (let t = 0; t < settings.tokens && Date.now() < buildDeadline; t++) {
    const name = `token-${String(t).padStart(5, "0")}`;
    states.set(name, compile(texts[t % texts.length]!));
    names.push(name);
  }
  const buildSeconds = Number(process.hrtime.bigint() - buildStarted) / 1e9;
  fullGc();
  const heapAfter = process.memoryUsage().heapUsed;
  const rssMiB = process.memoryUsage().rss / 1024 / 1024;

  // Lookups: a random token each time, and a lookup of a random kind on that token's own map.
  const LOOKUPS = 8192;
  const tokenOf: string[] = [];
  const queries: Lookup[] = [];
  for (let i = 0; i < LOOKUPS; i++) {
    const t = Math.floor(random() * names.length);
    const kind = LOOKUP_KINDS[i % LOOKUP_KINDS.length]!;
    const [lookup] = lookups(shapes[t % shapes.length]!, kind, 1, i);
    tokenOf.push(names[t]!);
    queries.push(lookup!);
  }
  // Token names as they arrive in requests: new strings, not the Map's own keys.
  const arriving = tokenOf.map((name) => name.split("").join(""));
  for (let i = 0; i < LOOKUPS; i++) if (states.get(arriving[i]!)!.allows(queries[i]!.repository, queries[i]!.action) !== queries[i]!.expected) wrongAnswers++;
  const nsPerLookupAndCheck = medianNs((steps) => lookupAndCheckPass(states, arriving, queries, steps), settings);
  const nsPerLookup = medianNs((steps) => lookupPass(states, arriving, steps), settings);
  const heapMiB = (heapAfter - heapBefore) / 1024 / 1024;
  return {
    actionsPerScopeMap: oneMap.length,
    compileMicroseconds: compileSamples[Math.floor(compileSamples.length / 2)]!,
    nsPerCheck,
    tokens: {
      requested: settings.tokens,
      built: states.size,
      distinctScopeMaps: Math.min(settings.distinctScopeMaps, states.size),
      buildSeconds,
      heapMiB,
      heapKiBPerToken: (heapMiB * 1024) / Math.max(1, states.size),
      rssMiB,
      nsPerLookupAndCheck,
      nsPerLookup,
      lookupsTimed: LOOKUPS,
    },
    wrongAnswers,
    sink,
  };
}

process.once("message", (settings: PermissionsBenchSettings) => {
  try {
    const result = run(settings);
    process.send!({ ok: true, result }, () => process.exit(0));
  } catch (error) {
    process.send!({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.exit(1));
  }
});
