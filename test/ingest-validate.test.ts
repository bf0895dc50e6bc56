import { describe, expect, it } from 'vitest';
import { SequenceWindow } from '../src/ingest/sequence-window.ts';
import { excerpt, validateMessage, type ValidationContext } from '../src/ingest/validate.ts';

const ctx = (over: Partial<ValidationContext> = {}): ValidationContext => ({
  tenant: 'a',
  device: 'hm-1',
  receivedAt: Date.parse('2026-11-21T10:00:00Z'),
  futureToleranceMs: 300_000,
  declaredUnits: new Map([['heat_power', 'MW']]),
  ...over,
});
const buf = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

describe('validateMessage', () => {
  it('normalises units from the message and from the birth declaration', () => {
    const v = validateMessage('data', buf({ seq: 7, samples: [{ ts: '2026-11-21T09:59:00Z', metrics: { heat_power: 1.5, supply_temp: 351.15 } }], units: { supply_temp: 'K' } }), ctx());
    expect(v.kind).toBe('data');
    if (v.kind !== 'data') return;
    expect(v.seq).toBe(7);
    const byMetric = Object.fromEntries(v.readings.map((r) => [r.metric, r]));
    expect(byMetric.heat_power).toMatchObject({ value: 1500, unit: 'kW', ts: Date.parse('2026-11-21T09:59:00Z'), tenant: 'a', device: 'hm-1' });
    expect(byMetric.supply_temp!.value).toBeCloseTo(78, 9);
    expect(byMetric.supply_temp!.unit).toBe('degC');
  });

  it('keeps batches: every sample and metric becomes a reading', () => {
    const samples = Array.from({ length: 100 }, (_, i) => ({ ts: 1_700_000_000_000 + i * 1000, metrics: { heat_power: i, flow: 2 } }));
    const v = validateMessage('data', buf({ seq: 1, samples, units: { flow: 'l/s' } }), ctx());
    expect(v.kind === 'data' && v.readings.length).toBe(200);
    expect(v.kind === 'data' && v.readings.find((r) => r.metric === 'flow')!.value).toBeCloseTo(7.2, 9);
  });

  it.each([
    ['malformed JSON', '{"seq": 1, "samples": [', /malformed JSON/],
    ['empty payload', '', /empty payload/],
    ['missing seq', { samples: [{ ts: 1_700_000_000_000, metrics: { heat_power: 1 } }] }, /seq/],
    ['string value', { seq: 1, samples: [{ ts: 1_700_000_000_000, metrics: { heat_power: 'hot' } }] }, /samples\.0\.metrics\.heat_power/],
    ['unknown unit', { seq: 1, samples: [{ ts: 1_700_000_000_000, metrics: { heat_power: 1 } }], units: { heat_power: 'horsepower' } }, /units\.heat_power/],
    ['no unit known', { seq: 1, samples: [{ ts: 1_700_000_000_000, metrics: { flow: 1 } }] }, /flow: no unit known/],
    ['negative seq', { seq: -1, samples: [{ ts: 1_700_000_000_000, metrics: { heat_power: 1 } }] }, /seq/],
    ['extra field', { seq: 1, samples: [{ ts: 1_700_000_000_000, metrics: { heat_power: 1 } }], extra: true }, /extra/],
    ['bad timestamp', { seq: 1, samples: [{ ts: 'yesterday', metrics: { heat_power: 1 } }] }, /samples\.0\.ts/],
  ])('rejects %s with a precise reason', (_name, payload, reason) => {
    const v = validateMessage('data', buf(payload), ctx());
    expect(v.kind).toBe('rejected');
    expect(v.kind === 'rejected' && v.reason).toMatch(reason);
  });

  it('flags samples far in the future but still returns them', () => {
    const v = validateMessage('data', buf({ seq: 1, samples: [{ ts: Date.parse('2026-11-21T13:00:00Z'), metrics: { heat_power: 1 } }, { ts: Date.parse('2026-11-21T10:00:10Z'), metrics: { heat_power: 1 } }] }), ctx());
    expect(v.kind === 'data' && v.futureSamples).toBe(1);
    expect(v.kind === 'data' && v.maxFutureMs).toBe(3 * 3600_000);
    expect(v.kind === 'data' && v.readings.length).toBe(2);
  });

  it('validates birth, state and ack; refuses cmd from devices', () => {
    expect(validateMessage('birth', buf({ type: 'heat_meter', firmware: '1.2.0', interval_s: 10, metrics: { heat_power: { unit: 'kW' } } }), ctx()).kind).toBe('birth');
    expect(validateMessage('state', buf({ state: 'offline' }), ctx()).kind).toBe('state');
    expect(validateMessage('ack', buf({ id: 'c1', ok: true }), ctx()).kind).toBe('ack');
    const cmd = validateMessage('cmd', buf({}), ctx());
    expect(cmd.kind === 'rejected' && cmd.reason).toMatch(/may not publish "cmd"/);
    const birth = validateMessage('birth', buf({ type: 'toaster', firmware: '1', interval_s: 10, metrics: { a: { unit: 'kW' } } }), ctx());
    expect(birth.kind === 'rejected' && birth.reason).toMatch(/type/);
  });
});

describe('excerpt', () => {
  it('escapes control bytes and notes truncation', () => {
    expect(excerpt(Buffer.from('ab\u0000c'), 100)).toBe('ab\\x00c');
    expect(excerpt(Buffer.alloc(1000, 'x'), 10)).toBe('xxxxxxxxxx… (1000 bytes)');
  });
});

describe('SequenceWindow', () => {
  it('drops duplicates, accepts late and out-of-order seqs once', () => {
    const w = new SequenceWindow();
    expect([1, 2, 3].map((s) => w.accept(s))).toEqual([true, true, true]);
    expect(w.accept(2)).toBe(false);
    expect(w.accept(10)).toBe(true);
    expect(w.accept(5)).toBe(true); // late, never seen
    expect(w.accept(5)).toBe(false);
    expect(w.accept(10)).toBe(false);
  });

  it('handles 32-bit wrap-around', () => {
    const w = new SequenceWindow();
    expect(w.accept(4_294_967_294)).toBe(true);
    expect(w.accept(4_294_967_295)).toBe(true);
    expect(w.accept(0)).toBe(true);
    expect(w.accept(1)).toBe(true);
    expect(w.accept(4_294_967_295)).toBe(false);
    expect(w.accept(0)).toBe(false);
  });

  it('forget lets a resend through; reset starts over', () => {
    const w = new SequenceWindow();
    w.accept(1);
    w.forget(1);
    expect(w.accept(1)).toBe(true);
    w.reset();
    expect(w.accept(1)).toBe(true);
  });

  it('slots reused after the window moves do not report false duplicates', () => {
    const w = new SequenceWindow();
    for (let s = 0; s < 10_000; s++) expect(w.accept(s)).toBe(true);
    expect(w.accept(9_999)).toBe(false);
    expect(w.accept(9_000)).toBe(false);
  });
});
