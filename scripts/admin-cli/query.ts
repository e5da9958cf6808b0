/**
 * `--query` and `--output tsv`, as az has them, so a script takes one value without jq:
 *   PASSWORD=$(registry-admin token create ... --query "credentials.passwords[0].value" -o tsv)
 * The query is the part of JMESPath people use with az: names joined by dots, each with
 * optional [index] (negative counts from the end). Anything else is a usage error that
 * says what is supported. Pure.
 */
import { UsageError } from "./errors.js";

type Step = { kind: "name"; name: string } | { kind: "index"; index: number };

export function parseQuery(query: string, command: string): Step[] {
  const steps: Step[] = [];
  let rest = query.trim();
  if (rest === "") throw new UsageError(`--query is empty`, command);
  let first = true;
  while (rest.length > 0) {
    const name = (first ? /^([A-Za-z_][A-Za-z0-9_-]*)/ : /^\.([A-Za-z_][A-Za-z0-9_-]*)/).exec(rest);
    const index = /^\[(-?\d+)\]/.exec(rest);
    if (name) {
      steps.push({ kind: "name", name: name[1]! });
      rest = rest.slice(name[0].length);
    } else if (index) {
      steps.push({ kind: "index", index: Number(index[1]) });
      rest = rest.slice(index[0].length);
    } else {
      throw new UsageError(`--query "${query}" is not supported here: use names and indexes, as in credentials.passwords[0].value`, command);
    }
    first = false;
  }
  return steps;
}

/** The value at the query's path; null where the path leads nowhere (as JMESPath answers). */
export function selectQuery(value: unknown, query: string, command: string): unknown {
  let current: unknown = value;
  for (const step of parseQuery(query, command)) {
    if (current === null || current === undefined) return null;
    if (step.kind === "name") {
      current = typeof current === "object" && !Array.isArray(current) ? (current as Record<string, unknown>)[step.name] : undefined;
    } else {
      current = Array.isArray(current) ? current.at(step.index) : undefined;
    }
  }
  return current ?? null;
}

/** az's tsv: a scalar as is, a list one item a line, an object's values separated by tabs. */
export function toTsv(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map((item) => toTsv(item).replace(/\n$/, "")).join("\n") + (value.length > 0 ? "\n" : "");
  if (typeof value === "object") return `${Object.values(value as Record<string, unknown>).map(cell).join("\t")}\n`;
  return `${String(value)}\n`;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
