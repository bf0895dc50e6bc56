/**
 * A same-run baseline for tail latencies: a fixed piece of CPU work (arithmetic over a 32 KB array,
 * no allocation), timed the same way and as often as the code under test, interleaved with it.
 * Its p99/p50 is what the machine alone does to identical work in that run (preemption, other
 * tenants on the core, frequency changes), so a tail can be read against it.
 */
export class FixedWork {
  private readonly data = Float64Array.from({ length: 4096 }, (_, i) => (i % 97) * 0.25);
  private reps = 1;
  private sink = 0;

  /** Scales the work so that one run takes about targetUs (median of a few runs). */
  calibrate(targetUs: number): this {
    for (let i = 0; i < 50; i++) this.run();
    const times: number[] = [];
    for (let i = 0; i < 101; i++) {
      const a = performance.now();
      this.run();
      times.push((performance.now() - a) * 1000);
    }
    times.sort((p, q) => p - q);
    this.reps = Math.max(1, Math.round((this.reps * targetUs) / Math.max(0.01, times[50]!)));
    return this;
  }

  /** One run; returns its duration in microseconds. */
  timed(): number {
    const a = performance.now();
    this.run();
    return (performance.now() - a) * 1000;
  }

  private run(): void {
    const d = this.data;
    let s = this.sink;
    for (let r = 0; r < this.reps; r++) {
      for (let i = 0; i < d.length; i++) s += d[i]! * d[(i * 7) & 4095]!;
    }
    // Kept so the loop is not optimised away.
    this.sink = s % 1e6;
  }
}
