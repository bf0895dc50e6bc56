/**
 * When to tick: at least every `intervalMs`, and soon after an input changed, coalesced (one
 * pending input tick at most) and at least `minGapMs` after the previous tick, so a storm of
 * readings costs bounded CPU while a single reading is answered at once.
 */
export type TickReason = 'interval' | 'input';

export interface TickSchedulerOptions {
  intervalMs: number;
  minGapMs: number;
  run: (reason: TickReason) => void;
  now?: () => number;
}

export class TickScheduler {
  private readonly now: () => number;
  private lastTickAt = -Infinity;
  private inputTimer: NodeJS.Timeout | undefined;
  private inputImmediate: NodeJS.Immediate | undefined;
  private intervalTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: TickSchedulerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Starts the interval; the first tick runs right away. */
  start(): void {
    this.armInterval(0);
  }

  /** A bound input changed: tick as soon as the minimum gap allows (one pending tick at most). */
  inputChanged(): void {
    if (this.stopped || this.inputTimer !== undefined || this.inputImmediate !== undefined) return;
    const wait = this.lastTickAt + this.o.minGapMs - this.now();
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

  private readonly fireInput = (): void => {
    this.inputTimer = undefined;
    this.inputImmediate = undefined;
    this.fire('input');
  };

  private fire(reason: TickReason): void {
    if (this.stopped) return;
    this.lastTickAt = this.now();
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
