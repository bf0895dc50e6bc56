/**
 * Duplicate detection for one device's 32-bit wrapping sequence numbers. Remembers the
 * highest seq and a bitmap of the WINDOW seqs below it, so resends are dropped while late
 * and out-of-order messages inside the window are still accepted once.
 */
const WINDOW = 4096;
const HALF_RANGE = 2 ** 31;

/** Signed distance a - b in 32-bit serial-number arithmetic (RFC 1982). */
function serialDistance(a: number, b: number): number {
  const d = (a - b) >>> 0;
  return d >= HALF_RANGE ? d - 2 ** 32 : d;
}

export class SequenceWindow {
  private highest = -1;
  private readonly bits = new Uint32Array(WINDOW / 32);

  /** Marks seq as seen; returns false when it was seen before (a duplicate). */
  accept(seq: number): boolean {
    if (this.highest < 0) {
      this.highest = seq;
      this.bits.fill(0);
      this.set(seq);
      return true;
    }
    const d = serialDistance(seq, this.highest);
    if (d > 0) {
      if (d >= WINDOW) this.bits.fill(0);
      else for (let s = 1; s < d; s++) this.clear((this.highest + s) >>> 0);
      this.highest = seq;
      this.set(seq);
      return true;
    }
    if (-d >= WINDOW) return true; // older than anything we remember: accept as late data
    if (this.has(seq)) return false;
    this.set(seq);
    return true;
  }

  /** Undo `accept` when the message could not be stored, so its resend is not dropped. */
  forget(seq: number): void {
    this.clear(seq);
  }

  reset(): void {
    this.highest = -1;
    this.bits.fill(0);
  }

  private slot(seq: number): [number, number] {
    const i = seq % WINDOW;
    return [i >>> 5, 1 << (i & 31)];
  }
  private set(seq: number): void {
    const [w, m] = this.slot(seq);
    this.bits[w]! |= m;
  }
  private clear(seq: number): void {
    const [w, m] = this.slot(seq);
    this.bits[w]! &= ~m;
  }
  private has(seq: number): boolean {
    const [w, m] = this.slot(seq);
    return (this.bits[w]! & m) !== 0;
  }
}
