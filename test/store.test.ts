import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDbStore, type Reading, type Store } from '../src/store/index.ts';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const T0 = Date.UTC(2026, 10, 21, 10, 0, 0);
const MIN = 60_000;

function reading(tenant: string, device: string, metric: string, ts: number, value: number, unit = 'kW'): Reading {
  return { tenant, device, metric, ts, value, unit };
}

describe('DuckDB store', () => {
  let dir: string;
  let dbPath: string;
  let store: Store;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qs-store-'));
    dbPath = path.join(dir, 'db', 'readings.duckdb');
    store = await openDuckDbStore({ path: dbPath });
    const rows: Reading[] = [];
    // muenster: two devices, two metrics, one reading per minute for an hour.
    for (let i = 0; i < 60; i++) {
      rows.push(reading('muenster', 'hm-1', 'heat_power', T0 + i * MIN, i));
      rows.push(reading('muenster', 'hm-1', 'supply_temp', T0 + i * MIN, 70 + (i % 5), 'degC'));
      rows.push(reading('muenster', 'hm-2', 'heat_power', T0 + i * MIN, 1000 + i));
    }
    // bochum uses the same device and metric names with other values.
    for (let i = 0; i < 30; i++) rows.push(reading('bochum', 'hm-1', 'heat_power', T0 + i * MIN, -(i + 1)));
    await store.writeReadings(rows, { segment: 1, batch: 0 });
    await store.writeDeadLetters([
      { tenant: 'muenster', device: 'hm-1', topic: 'qs/v1/muenster/hm-1/data', receivedAt: T0 + 1000, reason: 'malformed JSON: Unexpected token', excerpt: '{"seq":' },
      { tenant: 'muenster', device: 'hm-2', topic: 'qs/v1/muenster/hm-2/data', receivedAt: T0 + 2000, reason: 'data schema violation: seq: expected number', excerpt: '{"seq":"x"}' },
      { tenant: 'muenster', device: 'hm-1', topic: 'qs/v1/muenster/hm-1/data', receivedAt: T0 + 3000, reason: 'samples.0.metrics.x: no unit known', excerpt: '{}' },
      { tenant: 'bochum', device: 'hm-1', topic: 'qs/v1/bochum/hm-1/data', receivedAt: T0 + 4000, reason: 'secret bochum reason', excerpt: '' },
    ]);
  });

  afterAll(async () => {
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('returns a raw range ordered by time, half-open [from, to), filtered and limited', async () => {
    const all = await store.queryRange({ tenant: 'muenster', from: T0, to: T0 + 10 * MIN });
    expect(all).toHaveLength(30);
    expect(all.every((r, i) => i === 0 || all[i - 1]!.ts <= r.ts)).toBe(true);
    expect(all.at(-1)!.ts).toBe(T0 + 9 * MIN);
    expect(all[0]).toEqual({ tenant: 'muenster', device: 'hm-1', metric: 'heat_power', ts: T0, value: 0, unit: 'kW' });

    const one = await store.queryRange({ tenant: 'muenster', device: 'hm-1', metric: 'supply_temp', from: T0, to: T0 + 60 * MIN });
    expect(one).toHaveLength(60);
    expect(new Set(one.map((r) => `${r.device}/${r.metric}/${r.unit}`))).toEqual(new Set(['hm-1/supply_temp/degC']));

    const limited = await store.queryRange({ tenant: 'muenster', device: 'hm-2', from: T0, to: T0 + 60 * MIN, limit: 7 });
    expect(limited.map((r) => r.value)).toEqual([1000, 1001, 1002, 1003, 1004, 1005, 1006]);
  });

  it('aggregates into epoch-aligned buckets with avg, min, max and last', async () => {
    const buckets = await store.queryAggregate({ tenant: 'muenster', device: 'hm-1', metric: 'heat_power', from: T0, to: T0 + 60 * MIN, bucketMs: 15 * MIN, fns: ['avg', 'min', 'max', 'last'] });
    expect(buckets).toHaveLength(4);
    expect(buckets[0]).toEqual({ ts: T0, count: 15, avg: 7, min: 0, max: 14, last: 14 });
    expect(buckets[3]).toEqual({ ts: T0 + 45 * MIN, count: 15, avg: 52, min: 45, max: 59, last: 59 });

    // `last` is the value at the latest timestamp, not the largest value.
    const temp = await store.queryAggregate({ tenant: 'muenster', device: 'hm-1', metric: 'supply_temp', from: T0, to: T0 + 7 * MIN, bucketMs: 7 * MIN, fns: ['last', 'max'] });
    const alignedStart = Math.floor(T0 / (7 * MIN)) * 7 * MIN;
    expect(temp[0]!.ts).toBe(alignedStart);
    expect(temp.reduce((n, b) => n + b.count, 0)).toBe(7);
    expect(temp.at(-1)!.last).toBe(71); // minute 6 → 70 + 6 % 5
    expect(temp.at(-1)).not.toHaveProperty('avg');
    expect(Math.max(...temp.map((b) => b.max!))).toBe(74);
  });

  it('returns the latest value per (device, metric), optionally filtered', async () => {
    const latest = await store.latest({ tenant: 'muenster' });
    expect(latest).toEqual([
      { tenant: 'muenster', device: 'hm-1', metric: 'heat_power', ts: T0 + 59 * MIN, value: 59, unit: 'kW' },
      { tenant: 'muenster', device: 'hm-1', metric: 'supply_temp', ts: T0 + 59 * MIN, value: 74, unit: 'degC' },
      { tenant: 'muenster', device: 'hm-2', metric: 'heat_power', ts: T0 + 59 * MIN, value: 1059, unit: 'kW' },
    ]);
    expect((await store.latest({ tenant: 'muenster', device: 'hm-2' })).map((r) => r.value)).toEqual([1059]);
    expect((await store.latest({ tenant: 'muenster', metric: 'supply_temp' })).map((r) => r.device)).toEqual(['hm-1']);
    expect(await store.latest({ tenant: 'nobody' })).toEqual([]);
  });

  it('lists dead letters per tenant, newest first, by device, since and limit', async () => {
    const all = await store.deadLetters({ tenant: 'muenster' });
    expect(all.map((d) => d.receivedAt)).toEqual([T0 + 3000, T0 + 2000, T0 + 1000]);
    expect(all[2]).toEqual({ tenant: 'muenster', device: 'hm-1', topic: 'qs/v1/muenster/hm-1/data', receivedAt: T0 + 1000, reason: 'malformed JSON: Unexpected token', excerpt: '{"seq":' });
    expect((await store.deadLetters({ tenant: 'muenster', device: 'hm-1' })).map((d) => d.receivedAt)).toEqual([T0 + 3000, T0 + 1000]);
    expect((await store.deadLetters({ tenant: 'muenster', since: T0 + 2000 })).length).toBe(2);
    expect((await store.deadLetters({ tenant: 'muenster', limit: 1 })).map((d) => d.receivedAt)).toEqual([T0 + 3000]);
  });

  it('never shows one tenant the rows of another', async () => {
    const b = await store.queryRange({ tenant: 'bochum', from: 0, to: T0 + 1000 * MIN, limit: 100_000 });
    expect(b).toHaveLength(30);
    expect(b.every((r) => r.tenant === 'bochum' && r.value < 0)).toBe(true);
    const bAgg = await store.queryAggregate({ tenant: 'bochum', device: 'hm-1', metric: 'heat_power', from: T0, to: T0 + 60 * MIN, bucketMs: 60 * MIN, fns: ['max', 'min'] });
    expect(bAgg).toEqual([{ ts: Math.floor(T0 / (60 * MIN)) * 60 * MIN, count: 30, max: -1, min: -30 }]);
    expect(await store.latest({ tenant: 'bochum' })).toEqual([{ tenant: 'bochum', device: 'hm-1', metric: 'heat_power', ts: T0 + 29 * MIN, value: -30, unit: 'kW' }]);
    const bDead = await store.deadLetters({ tenant: 'bochum' });
    expect(bDead.map((d) => d.reason)).toEqual(['secret bochum reason']);
    const mDead = await store.deadLetters({ tenant: 'muenster' });
    expect(mDead.some((d) => d.reason.includes('bochum'))).toBe(false);
    // Values are bound, never spliced into SQL.
    expect(await store.queryRange({ tenant: "muenster' OR '1'='1", from: 0, to: T0 + 1000 * MIN })).toEqual([]);
    expect(await store.deadLetters({ tenant: "x' OR 1=1 --" })).toEqual([]);
  });

  it('rejects bad queries with a reason', async () => {
    await expect(store.queryRange({ tenant: '', from: 0, to: 1 })).rejects.toThrow(/tenant/);
    await expect(store.queryRange({ tenant: 'muenster', from: 10, to: 1 })).rejects.toThrow(/from .* must not be after to/);
    await expect(store.queryRange({ tenant: 'muenster', from: 0, to: 1, limit: 100_001 })).rejects.toThrow(/limit must be an integer from 1 to 100000/);
    await expect(store.queryRange({ tenant: 'muenster', from: 0.5, to: 1 })).rejects.toThrow(/from must be an integer epoch-ms/);
    await expect(store.queryAggregate({ tenant: 'muenster', device: 'hm-1', metric: 'heat_power', from: 0, to: 1e12, bucketMs: 1, fns: ['avg'] })).rejects.toThrow(/too many buckets/);
    await expect(store.queryAggregate({ tenant: 'muenster', device: 'hm-1', metric: 'heat_power', from: 0, to: 1, bucketMs: 1, fns: ['median' as 'avg'] })).rejects.toThrow(/unknown aggregate function "median"/);
    await expect(store.writeReadings([reading('muenster', 'hm-9', 'heat_power', Number.NaN, 1)])).rejects.toThrow(/reading 0.*ts must be an integer/);
    // The store is still usable after a refused write, and the refused series left no trace.
    expect(await store.latest({ tenant: 'muenster', device: 'hm-9' })).toEqual([]);
  });

  it('records the WAL marker with the rows, and a failed write stores neither (across appender auto-flushes)', async () => {
    expect(await store.appliedWalMarkers()).toEqual([{ segment: 1, batch: 0 }]);
    await store.writeReadings([reading('muenster', 'hm-3', 'heat_power', T0, 1)], { segment: 1, batch: 5 });
    expect(await store.appliedWalMarkers()).toEqual([{ segment: 1, batch: 5 }]);
    // A marker alone (a batch that held only dead letters) is recorded too.
    await store.writeReadings([], { segment: 2, batch: 0 });
    expect(await store.appliedWalMarkers()).toEqual([{ segment: 2, batch: 0 }]);

    const before = (await store.queryRange({ tenant: 'atomic', from: 0, to: T0 + 1e9, limit: 100_000 })).length;
    expect(before).toBe(0);
    const rows: Reading[] = [];
    for (let i = 0; i < 250_000; i++) rows.push(reading('atomic', `d-${i % 50}`, 'heat_power', T0 + i, i));
    // Fault injector: the last row's value can be read once (validation) and then throws, i.e.
    // the failure happens after 250,000 rows went through the appender inside the transaction.
    let reads = 0;
    const bad = { tenant: 'atomic', device: 'd-new', metric: 'heat_power', ts: T0, unit: 'kW', get value(): number {
      if (reads++ > 0) throw new Error('injected failure while appending');
      return 1;
    } };
    rows.push(bad as Reading);
    await expect(store.writeReadings(rows, { segment: 3, batch: 0 })).rejects.toThrow(/injected failure/);
    expect(await store.appliedWalMarkers()).toEqual([{ segment: 2, batch: 0 }]);
    expect(await store.queryRange({ tenant: 'atomic', from: 0, to: T0 + 1e9, limit: 100_000 })).toEqual([]);
    expect(await store.latest({ tenant: 'atomic' })).toEqual([]);

    // The same rows without the fault commit together with their marker.
    rows.pop();
    await store.writeReadings(rows, { segment: 3, batch: 0 });
    expect(await store.appliedWalMarkers()).toEqual([{ segment: 3, batch: 0 }]);
    const agg = await store.queryAggregate({ tenant: 'atomic', device: 'd-7', metric: 'heat_power', from: 0, to: T0 + 1e9, bucketMs: 1e9, fns: ['max'] });
    expect(agg.reduce((n, b) => n + b.count, 0)).toBe(5000);
  });

  it('applies retention to readings and dead letters', async () => {
    const removed = await store.applyRetention(T0 + 30 * MIN);
    // muenster: 3 series × 30 minutes + hm-3's one; bochum: 30; dead letters: 4; atomic rows (T0 .. T0 + 250 s): 250,000.
    expect(removed).toBe(90 + 1 + 30 + 4 + 250_000);
    const left = await store.queryRange({ tenant: 'muenster', from: 0, to: T0 + 1000 * MIN, limit: 100_000 });
    expect(left).toHaveLength(90);
    expect(Math.min(...left.map((r) => r.ts))).toBe(T0 + 30 * MIN);
    expect(await store.latest({ tenant: 'bochum' })).toEqual([]);
    expect(await store.deadLetters({ tenant: 'muenster' })).toEqual([]);
  });

  it('keeps committed data across close and reopen', async () => {
    await store.close();
    store = await openDuckDbStore({ path: dbPath });
    expect(await store.healthy()).toBe(true);
    expect(await store.appliedWalMarkers()).toEqual([{ segment: 3, batch: 0 }]);
    expect(await store.queryRange({ tenant: 'muenster', from: 0, to: T0 + 1000 * MIN, limit: 100_000 })).toHaveLength(90);
    const latest = await store.latest({ tenant: 'muenster', device: 'hm-1' });
    expect(latest.map((r) => [r.metric, r.value])).toEqual([['heat_power', 59], ['supply_temp', 74]]);
    // Series ids continue after the reloaded ones: a new series does not collide.
    await store.writeReadings([reading('muenster', 'hm-new', 'heat_power', T0 + 90 * MIN, 42)]);
    expect((await store.latest({ tenant: 'muenster', device: 'hm-new' }))[0]!.value).toBe(42);
    expect((await store.latest({ tenant: 'muenster', device: 'hm-1', metric: 'heat_power' }))[0]!.value).toBe(59);
  });

  it('never shows a half-written batch after SIGKILL in the middle of writes', async () => {
    const killDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qs-store-kill-'));
    const killDb = path.join(killDir, 'k.duckdb');
    const script = path.join(killDir, 'writer.mts');
    const ROWS = 40_000;
    fs.writeFileSync(
      script,
      `import { openDuckDbStore } from ${JSON.stringify(path.join(projectRoot, 'src/store/index.ts'))};
const store = await openDuckDbStore({ path: ${JSON.stringify(killDb)} });
for (let b = 0; ; b++) {
  const rows = [];
  for (let i = 0; i < ${ROWS}; i++) rows.push({ tenant: 't', device: 'd' + (i % 20), metric: 'm', ts: b * ${ROWS} + i, value: b, unit: 'kW' });
  await store.writeReadings(rows, { segment: 1, batch: b });
  process.stdout.write('committed ' + b + '\\n');
}
`,
    );
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child made no progress: ${out}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if ((out.match(/committed/g) ?? []).length >= 5) {
            clearTimeout(timer);
            // Land somewhere inside a later write.
            setTimeout(() => resolve(), Math.random() * 40);
          }
        });
      });
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const lastPrinted = Math.max(...[...out.matchAll(/committed (\d+)/g)].map((m) => Number(m[1])));

      const s = await openDuckDbStore({ path: killDb });
      try {
        const marker = (await s.appliedWalMarkers())[0]!;
        expect(marker.batch).toBeGreaterThanOrEqual(lastPrinted);
        const buckets = await s.queryAggregate({ tenant: 't', device: 'd0', metric: 'm', from: 0, to: (marker.batch + 5) * ROWS, bucketMs: ROWS, fns: ['min', 'max'] });
        // Every batch up to the marker is complete; nothing after it exists.
        expect(buckets.map((b) => b.ts / ROWS)).toEqual(Array.from({ length: marker.batch + 1 }, (_, i) => i));
        expect(buckets.every((b) => b.count === ROWS / 20 && b.min === b.ts / ROWS && b.max === b.ts / ROWS)).toBe(true);
        const total = await s.queryRange({ tenant: 't', from: (marker.batch + 1) * ROWS, to: (marker.batch + 100) * ROWS });
        expect(total).toEqual([]);
      } finally {
        await s.close();
      }
    } finally {
      fs.rmSync(killDir, { recursive: true, force: true });
    }
  });
});
