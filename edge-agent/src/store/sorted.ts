/** The index of the first element greater than `after` in an ascending array (binary search). */
export function firstIndexAfter<T extends number | string>(sorted: readonly T[], after: T): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! <= after) low = middle + 1;
    else high = middle;
  }
  return low;
}
