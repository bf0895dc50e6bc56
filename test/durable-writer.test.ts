import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DurableWriter, EntryEncoder, decodeEntry, type IngestEntry } from '../src/ingest/durable-writer.ts';
import { Wal, compareMarkers } from '../src/ingest/wal.ts';
import { openDuckDbStore, type Reading, type Store, type WalMarker } from '../src/store/index.ts';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const T0 = Date.UTC(2026, 10, 21, 10, 0, 0);

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'qs-dw-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function readAll<T>(wal: Wal<T>): Promise<Array<{ marker: WalMarker; records: string[] }>> {
  const out: Array<{ marker: WalMarker; records: string[] }> = [];
  for await (const b of wal.readBatches(null)) out.push({ marker: b.marker, records: b.records.map((r) => r.toString()) });
  return out;
}

function segmentFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.endsWith('.wal')).sort();
}

function entry(tenant: string, device: string, seq: number, n: number): IngestEntry {
  const readings: Reading[] = [];
  for (let k = 0; k < n; k++) readings.push({ tenant, device, metric: k % 2 ? 'heat_power' : 'supply_temp', ts: T0 + seq * 1000 + k, value: seq + k / 1000, unit: k % 2 ? 'kW' : 'degC' });
  return { tenant, device, seq, readings };
}

describe('WAL', () => {
  it('group-commits concurrent appends: one write and one fdatasync per batch, resolved only after the sync', async () => {
    const dir = tempDir();
    const wal = await Wal.open<number>({ dir, maxDelayMs: 5 });
    const events: string[] = [];
    const realSync = fs.fdatasync;
    const syncSpy = vi.spyOn(fs, 'fdatasync').mockImplementation(((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) =>
      realSync(fd, (err) => {
        events.push('synced');
        cb(err);
      })) as typeof fs.fdatasync);
    const writeSpy = vi.spyOn(fs, 'write');
    const committed: Array<[WalMarker, number]> = [];
    (wal as unknown as { onCommit: (m: WalMarker, a: number[]) => void }).onCommit = (m, a) => committed.push([m, a.length]);

    const acks = Array.from({ length: 1000 }, (_, i) => wal.append(Buffer.from(`record-${i}`), i).then(() => events.push('ack')));
    await Promise.all(acks);
    expect(syncSpy.mock.calls.length).toBeLessThanOrEqual(2);
    expect(writeSpy.mock.calls.length).toBe(syncSpy.mock.calls.length);
    expect(events[0]).toBe('synced');
    expect(committed.reduce((n, [, c]) => n + c, 0)).toBe(1000);
    expect(wal.stats().committedBatches).toBe(syncSpy.mock.calls.length);
    vi.restoreAllMocks();

    // A lone append waits for the group-commit window before it is written.
    const t = performance.now();
    await wal.append(Buffer.from('late'));
    expect(performance.now() - t).toBeGreaterThanOrEqual(4);
    await wal.close();

    const reopened = await Wal.open({ dir, maxDelayMs: 5 });
    const batches = await readAll(reopened);
    expect(batches.flatMap((b) => b.records)).toEqual([...Array.from({ length: 1000 }, (_, i) => `record-${i}`), 'late']);
    expect(batches.map((b) => b.marker)).toEqual(batches.map((_, i) => ({ segment: 1, batch: i })));
    await reopened.close();
  });

  it('cuts a torn or corrupt tail and recovers everything before it', async () => {
    const dir = tempDir();
    const wal = await Wal.open({ dir, maxDelayMs: 0 });
    for (let i = 0; i < 5; i++) await wal.append(Buffer.from(`batch-${i}`));
    await wal.close();
    const file = path.join(dir, segmentFiles(dir)[0]!);
    const good = fs.statSync(file).size;

    // 1. A torn write: half a frame at the end.
    const frame = fs.readFileSync(file).subarray(0, 30);
    fs.appendFileSync(file, frame.subarray(0, 17));
    let w = await Wal.open({ dir, maxDelayMs: 0 });
    expect((await readAll(w)).flatMap((b) => b.records)).toEqual(['batch-0', 'batch-1', 'batch-2', 'batch-3', 'batch-4']);
    expect(fs.statSync(file).size).toBe(good);
    await w.append(Buffer.from('after-crash-1'));
    await w.close();

    // 2. A flipped byte inside the last frame of the newest segment: CRC mismatch.
    const newest = path.join(dir, segmentFiles(dir).at(-1)!);
    const bytes = fs.readFileSync(newest);
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0xff;
    fs.writeFileSync(newest, bytes);
    // 3. Garbage appended to the first segment.
    fs.appendFileSync(file, Buffer.from('\x10\x00\x00\x00garbage-garbage-garbage'));
    const warnings: object[] = [];
    w = await Wal.open({ dir, maxDelayMs: 0, log: { info() {}, warn: (o) => warnings.push(o), error() {} } });
    expect((await readAll(w)).flatMap((b) => b.records)).toEqual(['batch-0', 'batch-1', 'batch-2', 'batch-3', 'batch-4']);
    expect(warnings).toHaveLength(2);
    expect(warnings.map((x) => (x as { problem: string }).problem).sort()).toEqual(['CRC mismatch', expect.stringMatching(/runs past the end|CRC mismatch/)]);
    await w.append(Buffer.from('after-crash-2'));
    await w.close();
    w = await Wal.open({ dir, maxDelayMs: 0 });
    expect((await readAll(w)).flatMap((b) => b.records)).toEqual(['batch-0', 'batch-1', 'batch-2', 'batch-3', 'batch-4', 'after-crash-2']);
    await w.close();
  });

  it('rejects the appends of a batch whose fdatasync fails, and carries on in a fresh segment', async () => {
    const dir = tempDir();
    const aborted: string[][] = [];
    const errors: object[] = [];
    const wal = await Wal.open<string>({ dir, maxDelayMs: 0, onAbort: (a) => aborted.push(a), log: { info() {}, warn() {}, error: (o) => errors.push(o) } });
    await wal.append(Buffer.from('ok-1'), 'ok-1');
    const realSync = fs.fdatasync;
    let failures = 1;
    vi.spyOn(fs, 'fdatasync').mockImplementation(((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      if (failures-- > 0) return process.nextTick(cb, Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      return realSync(fd, cb);
    }) as typeof fs.fdatasync);
    const lost = [wal.append(Buffer.from('lost-1'), 'lost-1'), wal.append(Buffer.from('lost-2'), 'lost-2')];
    for (const p of lost) await expect(p).rejects.toThrow(/WAL commit failed: EIO/);
    expect(aborted).toEqual([['lost-1', 'lost-2']]);
    expect(errors).toHaveLength(1);
    await wal.append(Buffer.from('ok-2'), 'ok-2');
    expect(wal.lastCommitted).toEqual({ segment: 2, batch: 0 });
    vi.restoreAllMocks();
    await wal.close();
    const reopened = await Wal.open({ dir, maxDelayMs: 0 });
    expect((await readAll(reopened)).flatMap((b) => b.records)).toEqual(['ok-1', 'ok-2']);
    await reopened.close();
  });

  it('rotates segments by size and deletes released ones after keepAppliedMs', async () => {
    const dir = tempDir();
    const wal = await Wal.open({ dir, maxDelayMs: 0, segmentBytes: 1024, keepAppliedMs: 0 });
    const payload = Buffer.alloc(300, 7);
    for (let i = 0; i < 12; i++) await wal.append(payload);
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) expect(fs.statSync(path.join(dir, f)).size).toBeLessThanOrEqual(1024);
    const batches = await readAll(wal);
    expect(batches).toHaveLength(12);

    // Release up to the 8th batch: only segments whose batches are all applied go.
    const upTo = batches[7]!.marker;
    wal.release(upTo);
    await new Promise((r) => setTimeout(r, 50));
    const left = await readAll(wal);
    expect(left.length).toBeGreaterThanOrEqual(4);
    expect(left.every((b) => compareMarkers(b.marker, { segment: upTo.segment, batch: -1 }) > 0)).toBe(true);
    expect(segmentFiles(dir).length).toBeLessThan(files.length);

    // Kept while younger than keepAppliedMs.
    const dir2 = tempDir();
    const keep = await Wal.open({ dir: dir2, maxDelayMs: 0, segmentBytes: 1024, keepAppliedMs: 60_000 });
    for (let i = 0; i < 12; i++) await keep.append(payload);
    const before = segmentFiles(dir2).length;
    keep.release(keep.lastCommitted!);
    await new Promise((r) => setTimeout(r, 50));
    expect(segmentFiles(dir2).length).toBe(before);
    await keep.close();
    await wal.close();
  });
});

describe('entry codec', () => {
  it('round-trips entries with readings, seq, dead letter and non-ASCII text', () => {
    const enc = new EntryEncoder();
    const e: IngestEntry = {
      tenant: 'münster',
      device: 'gw-1/sub-ä',
      seq: 4_294_967_295,
      readings: [
        { tenant: 'münster', device: 'gw-1/sub-ä', metric: 'heat_power', ts: T0, value: 1.5, unit: 'kW' },
        { tenant: 'münster', device: 'gw-1/sub-ä', metric: 'supply_temp', ts: T0 + 1, value: -273.15, unit: 'degC' },
      ],
      deadLetter: { tenant: 'münster', device: 'gw-1/sub-ä', topic: 'qs/v1/münster/gw-1/sub-ä/data', receivedAt: T0, reason: 'samples.1: future', excerpt: '{"seq":1,"x":"\\x00"}' },
    };
    expect(decodeEntry(Buffer.from(enc.encode(e)))).toEqual(e);
    expect(decodeEntry(Buffer.from(enc.encode({ tenant: 't', device: 'd', readings: [] })))).toEqual({ tenant: 't', device: 'd', readings: [] });
    expect(() => enc.encode({ tenant: 't', device: 'd', readings: [{ ts: 'x' }] } as unknown as IngestEntry)).toThrow(/ts and value must be numbers/);
  });
});

/** Real DuckDB store whose writes fail while `down` is true (test fault injector). */
function flakyStore(inner: Store): Store & { down: boolean; failedWrites: number } {
  const s = {
    down: true,
    failedWrites: 0,
    kind: inner.kind,
    writeReadings(r: readonly Reading[], m?: WalMarker) {
      if (s.down) {
        s.failedWrites++;
        return Promise.reject(new Error('store unavailable (injected)'));
      }
      return inner.writeReadings(r, m);
    },
    writeDeadLetters: inner.writeDeadLetters.bind(inner),
    queryRange: inner.queryRange.bind(inner),
    queryAggregate: inner.queryAggregate.bind(inner),
    latest: inner.latest.bind(inner),
    deadLetters: inner.deadLetters.bind(inner),
    applyRetention: inner.applyRetention.bind(inner),
    appliedWalMarkers: inner.appliedWalMarkers.bind(inner),
    healthy: async () => !s.down && (await inner.healthy()),
    close: inner.close.bind(inner),
  };
  return s;
}

async function countBySeq(store: Store, tenant: string): Promise<Map<string, number>> {
  const rows = await store.queryRange({ tenant, from: 0, to: T0 + 1e10, limit: 100_000 });
  const counts = new Map<string, number>();
  for (const r of rows) {
    const key = `${r.device}#${Math.floor(r.value)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

describe('DurableWriter', () => {
  it('stores appended readings and dead letters; reopening returns sequences and re-applies nothing', async () => {
    const dir = tempDir();
    const store = await openDuckDbStore({ path: path.join(dir, 'db.duckdb') });
    let { writer } = await DurableWriter.open({ dir: path.join(dir, 'wal'), store, maxDelayMs: 1 });
    const acks: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) acks.push(writer.append(entry('muenster', `hm-${i % 4}`, i, 3)));
    acks.push(writer.append({ tenant: 'muenster', device: 'hm-9', readings: [], deadLetter: { tenant: 'muenster', device: 'hm-9', topic: 'qs/v1/muenster/hm-9/data', receivedAt: T0, reason: 'malformed JSON', excerpt: '{' } }));
    await Promise.all(acks);
    await writer.flush();
    expect(writer.stats()).toMatchObject({ appended: 201, appliedReadings: 600, pendingEntries: 0, storeErrors: 0 });
    expect((await store.queryRange({ tenant: 'muenster', from: 0, to: T0 + 1e9, limit: 100_000 })).length).toBe(600);
    expect((await store.deadLetters({ tenant: 'muenster' })).map((d) => d.reason)).toEqual(['malformed JSON']);
    await expect(writer.append({ tenant: 't', device: 'd', readings: null } as unknown as IngestEntry)).rejects.toThrow(/entry rejected: entry.readings must be an array/);
    await writer.close();
    await expect(writer.append(entry('muenster', 'hm-0', 999, 1))).rejects.toThrow(/closed/);

    const reopened = await DurableWriter.open({ dir: path.join(dir, 'wal'), store, maxDelayMs: 1 });
    writer = reopened.writer;
    await writer.flush();
    expect(reopened.recoveredSequences).toHaveLength(200);
    expect(reopened.recoveredSequences.filter((s) => s.device === 'hm-1').map((s) => s.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i * 4 + 1));
    expect((await store.queryRange({ tenant: 'muenster', from: 0, to: T0 + 1e9, limit: 100_000 })).length).toBe(600);
    expect((await store.deadLetters({ tenant: 'muenster' })).length).toBe(1);
    await writer.close();
    await store.close();
  });

  it('loses nothing while the store is down, spilling past the memory budget to the WAL', async () => {
    const dir = tempDir();
    const inner = await openDuckDbStore({ path: path.join(dir, 'db.duckdb') });
    const store = flakyStore(inner);
    store.down = false;
    const errors: object[] = [];
    const { writer } = await DurableWriter.open({
      dir: path.join(dir, 'wal'),
      store,
      maxDelayMs: 1,
      applyIntervalMs: 10,
      maxPendingReadings: 500,
      maxApplyReadings: 700,
      log: { info() {}, warn() {}, error: (o) => errors.push(o) },
    });
    store.down = true;
    const acks: Promise<void>[] = [];
    for (let i = 0; i < 1500; i++) {
      acks.push(writer.append(entry('muenster', `hm-${i % 5}`, i, 4)));
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(acks);
    await new Promise((r) => setTimeout(r, 400));
    expect(store.failedWrites).toBeGreaterThan(1);
    expect(writer.stats().storeErrors).toBe(store.failedWrites);
    expect(writer.stats().pendingEntries).toBe(1500);
    expect(errors.length).toBeGreaterThan(0);
    store.down = false;
    await writer.flush();
    const counts = await countBySeq(inner, 'muenster');
    expect(counts.size).toBe(1500);
    expect([...counts.values()].every((n) => n === 4)).toBe(true);
    expect(writer.stats()).toMatchObject({ appliedReadings: 6000, pendingEntries: 0 });
    await writer.close();
    await inner.close();
  });

  it('numbers new WAL segments after the markers a store already holds', async () => {
    const dir = tempDir();
    const store = await openDuckDbStore({ path: path.join(dir, 'db.duckdb') });
    await store.writeReadings([], { segment: 41, batch: 7 });
    const { writer } = await DurableWriter.open({ dir: path.join(dir, 'wal-lost'), store, maxDelayMs: 0 });
    await writer.append(entry('muenster', 'hm-0', 1, 2));
    await writer.flush();
    expect((await store.appliedWalMarkers())[0]!.segment).toBeGreaterThanOrEqual(42);
    expect((await store.queryRange({ tenant: 'muenster', from: 0, to: T0 + 1e9 })).length).toBe(2);
    await writer.close();
    await store.close();
  });

  it('after SIGKILL mid-stream, every acknowledged entry is in the store exactly once', async () => {
    const dir = tempDir();
    const dbPath = path.join(dir, 'db.duckdb');
    const walDir = path.join(dir, 'wal');
    const script = path.join(dir, 'ingest.mts');
    const READINGS = 3;
    fs.writeFileSync(
      script,
      `import { openDuckDbStore } from ${JSON.stringify(path.join(projectRoot, 'src/store/index.ts'))};
import { DurableWriter } from ${JSON.stringify(path.join(projectRoot, 'src/ingest/durable-writer.ts'))};
const store = await openDuckDbStore({ path: ${JSON.stringify(dbPath)} });
const { writer } = await DurableWriter.open({ dir: ${JSON.stringify(walDir)}, store, maxDelayMs: 2, applyIntervalMs: 20 });
let seq = 0;
async function device(d) {
  for (;;) {
    const s = seq++;
    const readings = [];
    for (let k = 0; k < ${READINGS}; k++) readings.push({ tenant: 'muenster', device: 'dev-' + d, metric: 'm' + k, ts: ${T0} + s, value: s, unit: 'kW' });
    await writer.append({ tenant: 'muenster', device: 'dev-' + d, seq: s, readings });
    process.stdout.write('ack ' + d + ' ' + s + '\\n');
  }
}
for (let d = 0; d < 50; d++) void device(d);
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child made too little progress: ${out.slice(0, 200)}`)), 40_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.length > 120_000) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const acked = [...out.matchAll(/^ack (\d+) (\d+)$/gm)].map((m) => ({ device: `dev-${m[1]}`, seq: Number(m[2]) }));
    expect(acked.length).toBeGreaterThan(5000);

    const store = await openDuckDbStore({ path: dbPath });
    const beforeRecovery = (await countBySeq(store, 'muenster')).size;
    const { writer, recoveredSequences } = await DurableWriter.open({ dir: walDir, store, maxDelayMs: 2 });
    await writer.flush();
    const counts = await countBySeq(store, 'muenster');
    for (const a of acked) expect(counts.get(`${a.device}#${a.seq}`), `${a.device} seq ${a.seq}`).toBe(READINGS);
    // Nothing is stored twice, acknowledged or not.
    expect([...counts.values()].every((n) => n === READINGS)).toBe(true);
    const recovered = new Set(recoveredSequences.map((s) => `${s.device}#${s.seq}`));
    for (const a of acked) expect(recovered.has(`${a.device}#${a.seq}`)).toBe(true);
    // The kill usually lands with committed batches the store had not applied yet.
    expect(counts.size).toBeGreaterThanOrEqual(beforeRecovery);
    await writer.close();
    await store.close();
  });
});
