/**
 * Requests with a body in flight, per client address: one address may hold at most `max`,
 * so a client that opens uploads and never finishes them cannot take every connection.
 */
export class UploadSlots {
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** A release function, or undefined when the address already holds `max` uploads. */
  take(address: string): (() => void) | undefined {
    const held = this.inFlight.get(address) ?? 0;
    if (held >= this.max) return undefined;
    this.inFlight.set(address, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.inFlight.get(address) ?? 1) - 1;
      if (left <= 0) this.inFlight.delete(address);
      else this.inFlight.set(address, left);
    };
  }
}
