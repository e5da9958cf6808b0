/** A short random wait before retrying an optimistic write, so racing writers spread out. */
export function backOff(attempt: number): Promise<void> {
  const ceilingMs = Math.min(5 * 2 ** Math.min(attempt, 4), 50);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceilingMs));
}
