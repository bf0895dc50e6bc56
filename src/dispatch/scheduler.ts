/**
 * When to tick: at least every `intervalMs`, and soon after an input changed. Input ticks are
 * coalesced (one pending at most) and rate-limited by a token bucket: on average at most one per
 * `minGapMs`, with short bursts passing at once. A storm of readings thus costs bounded CPU, while
 * a reading that arrives a few ms after the previous tick is still answered at once.
 */
export type TickReason = 'interval' | 'input';

export interface TickSchedulerOptions {
  intervalMs: number;
  minGapMs: number;
  /** Input ticks that may run back to back before the rate limit applies (default 4). */
  burst?: number;
  run: (reason: TickReason) => void;
  now?: () => number;
}

export class TickScheduler {
  private readonly now: () => number;
  private readonly burst: number;
  private tokens: number;
  private tokensAt: number;
  private inputTimer: NodeJS.Timeout | undefined;
  private inputImmediate: NodeJS.Immediate | undefined;
  private intervalTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: TickSchedulerOptions) {
    this.now = o.now ?? Date.now;
    this.burst = Math.max(1, o.burst ?? 4);
    this.tokens = this.burst;
    this.tokensAt = this.now();
  }

  /** Starts the interval; the first interval tick runs after `firstDelayMs`. */
  start(firstDelayMs = 0): void {
    this.armInterval(firstDelayMs);
  }

  /** A bound input changed: tick as soon as the rate limit allows (one pending tick at most). */
  inputChanged(): void {
    if (this.stopped || this.inputTimer !== undefined || this.inputImmediate !== undefined) return;
    const wait = this.refill() >= 1 ? 0 : Math.ceil((1 - this.tokens) * this.o.minGapMs);
    // setImmediate lets the other messages already read from the sockets join this tick.
    if (wait > 0) this.inputTimer = setTimeout(this.fireInput, wait);
    else this.inputImmediate = setImmediate(this.fireInput);
  }

  stop(): void {
    this.stopped = true;
    this.clearInput();
    if (this.intervalTimer) clearTimeout(this.intervalTimer);
    this.intervalTimer = undefined;
  }

  /** Tokens now (refilled at one per minGapMs, at most `burst`). */
  private refill(): number {
    const now = this.now();
    if (this.o.minGapMs <= 0) return (this.tokens = this.burst);
    this.tokens = Math.min(this.burst, this.tokens + Math.max(0, now - this.tokensAt) / this.o.minGapMs);
    this.tokensAt = now;
    return this.tokens;
  }

  private readonly fireInput = (): void => {
    this.inputTimer = undefined;
    this.inputImmediate = undefined;
    this.refill();
    this.tokens = Math.max(0, this.tokens - 1);
    this.fire('input');
  };

  private fire(reason: TickReason): void {
    if (this.stopped) return;
    // A tick of either kind satisfies both: the interval restarts from here.
    this.clearInput();
    this.armInterval(this.o.intervalMs);
    this.o.run(reason);
  }

  private clearInput(): void {
    if (this.inputTimer !== undefined) clearTimeout(this.inputTimer);
    if (this.inputImmediate !== undefined) clearImmediate(this.inputImmediate);
    this.inputTimer = undefined;
    this.inputImmediate = undefined;
  }

  private armInterval(ms: number): void {
    if (this.intervalTimer) clearTimeout(this.intervalTimer);
    this.intervalTimer = setTimeout(() => this.fire('interval'), ms);
    this.intervalTimer.unref();
  }
}
