/** Token bucket per device: `burst` messages at once, refilled at `ratePerSecond`. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token; false when the device is over its rate. */
  take(now: number): boolean {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until `take` can succeed again. */
  msUntilToken(now: number): number {
    const tokens = this.tokens + ((now - this.last) * this.ratePerSecond) / 1000;
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 1000) / this.ratePerSecond);
  }

  /** True once the bucket would be full again, so its state can be forgotten. */
  isFull(now: number): boolean {
    return this.tokens + ((now - this.last) * this.ratePerSecond) / 1000 >= this.burst;
  }
}
