/**
 * Human output, as `az --output table` prints it: a header row, a row of dashes, then one
 * row per item, columns two spaces apart; and for one item, a name/value list. Pure.
 */

export interface Column<Row> {
  header: string;
  value: (row: Row) => unknown;
}

/** A cell's text: lists joined with ", ", null and undefined empty, dates as they come. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map(cellText).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value).replace(/\s*\n\s*/g, " ");
}

export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  const cells = rows.map((row) => columns.map((column) => cellText(column.value(row))));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (parts: string[]): string => parts.map((part, i) => part.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(columns.map((column) => column.header)), line(widths.map((width) => "-".repeat(width))), ...cells.map(line)].join("\n") + "\n";
}

/** One item: a name column and a value column; a list value takes one line per element. */
export function renderDetails(fields: ReadonlyArray<readonly [string, unknown]>): string {
  const width = Math.max(...fields.map(([name]) => name.length));
  const lines: string[] = [];
  for (const [name, value] of fields) {
    const values = Array.isArray(value) ? (value.length > 0 ? value.map(cellText) : [""]) : [cellText(value)];
    values.forEach((text, i) => lines.push(`${(i === 0 ? name : "").padEnd(width)}  ${text}`.trimEnd()));
  }
  return lines.join("\n") + "\n";
}
