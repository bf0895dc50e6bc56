import type { BrokerRejection } from './types.ts';

interface Entry {
  timer: NodeJS.Timeout | undefined;
  suppressed: number;
  latest: BrokerRejection | undefined;
  windowStart: number;
}

/**
 * At most one rejection per key (device + kind of rejection) per window: the first goes out at
 * once, the rest of the window is summed up into one report. Keeps a flood from flooding the
 * dead-letter store while still saying how much was dropped.
 */
export class RejectThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly emit: (rejection: BrokerRejection) => void,
    private readonly windowMs = 1000,
  ) {}

  report(key: string, rejection: BrokerRejection): void {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.entries.set(key, { timer: this.arm(key), suppressed: 0, latest: undefined, windowStart: rejection.receivedAt });
      this.emit(rejection);
      return;
    }
    entry.suppressed++;
    entry.latest = rejection;
  }

  /** Flushes pending summaries now (shutdown). */
  flush(): void {
    for (const [key, entry] of this.entries) {
      clearTimeout(entry.timer);
      this.emitSummary(entry);
      this.entries.delete(key);
    }
  }

  private arm(key: string): NodeJS.Timeout {
    const timer = setTimeout(() => this.windowEnded(key), this.windowMs);
    timer.unref();
    return timer;
  }

  private windowEnded(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    if (entry.suppressed === 0) {
      this.entries.delete(key);
      return;
    }
    this.emitSummary(entry);
    entry.suppressed = 0;
    entry.latest = undefined;
    entry.windowStart = Date.now();
    entry.timer = this.arm(key);
  }

  private emitSummary(entry: Entry): void {
    const latest = entry.latest;
    if (latest === undefined || entry.suppressed === 0) return;
    const seconds = ((Date.now() - entry.windowStart) / 1000).toFixed(1);
    this.emit({ ...latest, reason: `${latest.reason} (${entry.suppressed} more like this in the last ${seconds} s, not reported one by one)` });
  }
}
