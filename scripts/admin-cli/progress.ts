/**
 * An import's progress on stderr: a bar redrawn in place when stderr is a terminal, plain
 * lines (only when something changed) otherwise. The formatting is pure.
 */
import { formatBytes } from "../../shared/domain/quantities.js";

export { formatBytes };

export interface ImportProgress {
  bytesCopied?: number;
  bytesTotal?: number;
  blobsCopied?: number;
  blobsTotal?: number;
  blobsSkipped?: number;
}

/**
 * The fraction done: 1 once every blob is copied or skipped; before that by bytes when their
 * total is known (it counts skipped blobs, which copy no bytes), else by blobs; undefined
 * before either total is known.
 */
export function fractionDone(progress: ImportProgress): number | undefined {
  const blobsDone = (progress.blobsCopied ?? 0) + (progress.blobsSkipped ?? 0);
  if (progress.blobsTotal && blobsDone >= progress.blobsTotal) return 1;
  if (progress.bytesTotal) return Math.min(1, (progress.bytesCopied ?? 0) / progress.bytesTotal);
  if (progress.blobsTotal) return Math.min(1, ((progress.blobsCopied ?? 0) + (progress.blobsSkipped ?? 0)) / progress.blobsTotal);
  return undefined;
}

/** "1.0 MiB / 200.0 MiB, 1/9 blobs (2 already here)" */
export function progressText(progress: ImportProgress): string {
  const parts: string[] = [];
  if (progress.bytesTotal) parts.push(`${formatBytes(progress.bytesCopied ?? 0)} / ${formatBytes(progress.bytesTotal)}`);
  if (progress.blobsTotal) {
    const skipped = progress.blobsSkipped ? ` (${progress.blobsSkipped} already here)` : "";
    parts.push(`${progress.blobsCopied ?? 0}/${progress.blobsTotal} blobs${skipped}`);
  }
  return parts.length > 0 ? parts.join(", ") : "resolving the source";
}

/** `[=========>          ]  45% <text>`, fitted to `columns`. */
export function progressBar(label: string, progress: ImportProgress, columns: number): string {
  const fraction = fractionDone(progress);
  const percent = fraction === undefined ? " ..." : `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const text = progressText(progress);
  // A steady width (the text's length changes as it runs), narrower on narrow terminals.
  const barWidth = columns >= 100 ? 30 : columns >= 60 ? 20 : 10;
  const filled = fraction === undefined ? 0 : Math.round(fraction * barWidth);
  const bar = filled >= barWidth ? "=".repeat(barWidth) : `${"=".repeat(filled)}${filled > 0 ? ">" : " "}${" ".repeat(barWidth - filled - 1)}`;
  const line = `${label} [${bar}] ${percent} ${text}`;
  return line.length > columns - 1 ? line.slice(0, Math.max(0, columns - 1)) : line;
}

export interface ProgressReporter {
  update(progress: ImportProgress): void;
  /** Ends the display: the last bar stays on its line when `keep`, else it is cleared. */
  finish(keep: boolean): void;
}

export function progressReporter(stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number }, label: string): ProgressReporter {
  if (stderr.isTTY) {
    let drawn = false;
    return {
      update(progress) {
        stderr.write(`\r\x1b[2K${progressBar(label, progress, stderr.columns || 80)}`);
        drawn = true;
      },
      finish(keep) {
        if (drawn) stderr.write(keep ? "\n" : "\r\x1b[2K");
      },
    };
  }
  let last: string | undefined;
  return {
    update(progress) {
      const fraction = fractionDone(progress);
      const line = `${label}: ${fraction === undefined ? "" : `${Math.floor(fraction * 100)}% `}${progressText(progress)}`;
      if (line !== last) stderr.write(`${line}\n`);
      last = line;
    },
    finish() {},
  };
}
