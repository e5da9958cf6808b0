/**
 * Sizes and rates as operators write them: `--max-storage 50GiB`, `--max-bandwidth 20Mbps`,
 * `syncBandwidth: "5MB/s"`. One parser for the edge's flags and the cloud's resource
 * settings, so a value means the same wherever it is typed.
 *
 * Sizes: a number with B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers
 * of 1024); a bare number is bytes.
 * Rates: bits per second as network people write them (bps, Kbps, Mbps, Gbps, powers of
 * 1000), or a size per second (`5MB/s`, `10MiB/s`). The result is bytes per second.
 */

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

const BIT_RATE_UNITS: Record<string, number> = { bps: 1 / 8, kbps: 1e3 / 8, mbps: 1e6 / 8, gbps: 1e9 / 8 };

export type Parsed = { ok: true; value: number } | { ok: false; problem: string };

/** Bytes, from "500MB", "2GiB", "1048576". */
export function parseSize(text: string): Parsed {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const factor = match ? (match[2] ? SIZE_UNITS[match[2].toLowerCase()] : 1) : undefined;
  if (!match || factor === undefined) return { ok: false, problem: `"${text}" is not a size: write a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (such as 50GiB)` };
  const value = Math.floor(Number(match[1]) * factor);
  if (value <= 0) return { ok: false, problem: `"${text}" must be more than 0 bytes` };
  return { ok: true, value };
}

/** Bytes per second, from "20Mbps", "512Kbps", "5MB/s", "10MiB/s". */
export function parseBandwidth(text: string): Parsed {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)(\/s)?\s*$/.exec(text);
  const unit = match?.[2]?.toLowerCase();
  const factor = !match || !unit ? undefined : match[3] ? SIZE_UNITS[unit] : BIT_RATE_UNITS[unit];
  if (!match || factor === undefined) {
    return { ok: false, problem: `"${text}" is not a bandwidth: write bits per second (such as 20Mbps, 512Kbps) or bytes per second (such as 5MB/s, 10MiB/s)` };
  }
  const value = Math.floor(Number(match[1]) * factor);
  if (value < 1024) return { ok: false, problem: `"${text}" is below 1 KiB/s: too slow to sync anything` };
  return { ok: true, value };
}

/** For people: 1.5 GiB, 20 MiB/s. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
