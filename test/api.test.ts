/**
 * The HTTP API over real HTTP on 127.0.0.1 against the real DuckDB store in a temp dir.
 * Token verifier, device directory and device admin are small in-test implementations
 * (the real ones belong to the identity registry and the device tracker).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildApi, requireIdentity, type ApiDeps, type ApiPlugin, type ZodTypeProvider } from '../src/api/index.ts';
import { deviceSchema, errorSchema, readingSchema, seriesSchema } from '../src/api/schemas.ts';
import { sendSliced, SLICE_ITEMS } from '../src/api/sliced-json.ts';
import { defaultSpecsDir } from '../src/contract/generate.ts';
import { deviceStateOf } from '../src/devices/query.ts';
import type { DeviceDirectory, DeviceStatus } from '../src/devices/types.ts';
import type { TokenIdentity, TokenVerifier } from '../src/identity/types.ts';
import { openDuckDbStore } from '../src/store/index.ts';
import type { DeadLetter, Reading, Store } from '../src/store/types.ts';
import { httpCall, type HttpResult } from './helpers/http.ts';

const A = 'stadt-a';
const B = 'stadt-b';
const T0 = Date.UTC(2026, 0, 1); // a multiple of every bucket used below
const MIN = 60_000;
const HOUR = 60 * MIN;

// Distinctive random tokens, so "never logged" is a meaningful check.
const token = () => `qs_${randomBytes(18).toString('hex')}`;
const tokens = { aRead: token(), aAdmin: token(), bRead: token() };
const identities = new Map<string, TokenIdentity>([
  [tokens.aRead, { tenant: A, role: 'read', tokenId: 'a-read' }],
  [tokens.aAdmin, { tenant: A, role: 'admin', tokenId: 'a-admin' }],
  [tokens.bRead, { tenant: B, role: 'read', tokenId: 'b-read' }],
]);
const verifier: TokenVerifier = { verifyToken: (t) => identities.get(t) ?? null };

function status(tenant: string, device: string, extra: Partial<DeviceStatus> = {}): DeviceStatus {
  const s = { tenant, device, online: true, connected: true, stale: false, messages: 10, readings: 60, rejects: 0, duplicates: 0, flagged: 0, ...extra };
  return { ...s, status: deviceStateOf(s.online, s.stale, s.lastSeen !== undefined) } as DeviceStatus;
}
const deviceStatuses: DeviceStatus[] = [
  status(A, 'hm-1', { type: 'heat_meter', firmware: '1.2.0', intervalS: 60, lastSeen: T0 + 59 * MIN }),
  status(A, 'gw-1/sub-1', { type: 'heat_pump', online: false, lastSeen: T0 + 4 * MIN }),
  status(A, 'shared-1', { stale: true, rejects: 3, lastReject: { at: T0 + 5 * MIN, reason: 'samples.0.ts: expected number' } }),
  status(B, 'secret-b', { type: 'gas_chp' }),
  status(B, 'shared-1', { messages: 999 }),
];
const directory: DeviceDirectory = {
  // Deliberately returns objects with extra fields, as the real tracker does.
  list: (tenant) => deviceStatuses.filter((d) => d.tenant === tenant).map((d) => ({ ...d, units: new Map([['x', 'kW']]) }) as DeviceStatus),
  get: (tenant, device) => deviceStatuses.find((d) => d.tenant === tenant && d.device === device),
};

/** Known data: A's hm-1 heat_power = minute index 0..59; shared-1 differs per tenant. */
const readings: Reading[] = [
  ...Array.from({ length: 60 }, (_, i) => ({ tenant: A, device: 'hm-1', metric: 'heat_power', ts: T0 + i * MIN, value: i, unit: 'kW' })),
  ...Array.from({ length: 10 }, (_, i) => ({ tenant: A, device: 'hm-1', metric: 'supply_temp', ts: T0 + i * MIN, value: 70 + i / 10, unit: 'degC' })),
  ...Array.from({ length: 5 }, (_, i) => ({ tenant: A, device: 'gw-1/sub-1', metric: 'heat_power', ts: T0 + i * MIN, value: 100 + i, unit: 'kW' })),
  ...Array.from({ length: 5 }, (_, i) => ({ tenant: A, device: 'shared-1', metric: 'heat_power', ts: T0 + i * MIN, value: 1 + i, unit: 'kW' })),
  ...Array.from({ length: 5 }, (_, i) => ({ tenant: B, device: 'shared-1', metric: 'heat_power', ts: T0 + i * MIN, value: -1000 - i, unit: 'kW' })),
  ...Array.from({ length: 5 }, (_, i) => ({ tenant: B, device: 'secret-b', metric: 'heat_power', ts: T0 + i * MIN, value: 5000 + i, unit: 'kW' })),
];
const deadLetters: DeadLetter[] = [
  { tenant: A, device: 'hm-1', topic: `qs/v1/${A}/hm-1/data`, receivedAt: T0 + 1 * MIN, reason: 'seq: expected number', excerpt: '{"seq":"x"}' },
  { tenant: A, device: 'hm-1', topic: `qs/v1/${A}/hm-1/data`, receivedAt: T0 + 3 * MIN, reason: 'malformed JSON', excerpt: '{oops' },
  { tenant: A, device: 'shared-1', topic: `qs/v1/${A}/shared-1/data`, receivedAt: T0 + 2 * MIN, reason: 'samples: too small', excerpt: '{"samples":[]}' },
  { tenant: B, device: 'secret-b', topic: `qs/v1/${B}/secret-b/data`, receivedAt: T0 + 4 * MIN, reason: 'b-only reason', excerpt: 'b-secret' },
  { tenant: B, device: 'shared-1', topic: `qs/v1/${B}/shared-1/data`, receivedAt: T0 + 5 * MIN, reason: 'b-only reason 2', excerpt: 'b-secret-2' },
];

let dir: string;
let store: Store;
let app: FastifyInstance;
let base: string;
let readyState = { ready: true, checks: { store: true, broker: true } as Record<string, boolean> };
const logLines: string[] = [];
const adminCalls: string[] = [];
const added = new Set<string>();
const metrics = new Registry();

/** A later capability's plugin, to prove plugins mount behind auth and show up in OpenAPI. */
const dispatchPlugin: ApiPlugin = async (scope) => {
  scope.withTypeProvider<ZodTypeProvider>().get(
    '/dispatch/status',
    { schema: { summary: 'test plugin', response: { 200: z.object({ tenant: z.string() }), 401: errorSchema } } },
    async (request) => ({ tenant: requireIdentity(request).tenant }),
  );
};

/** The real store, except one device id that makes queries fail (for the 500 path). */
function explodingStore(real: Store): Store {
  return new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'queryRange') {
        return async (q: Parameters<Store['queryRange']>[0]) => {
          if (q.device === 'explode') throw new Error('duckdb exploded at /srv/secret/path.duckdb');
          return target.queryRange(q);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function deps(extra: Partial<ApiDeps> = {}): ApiDeps {
  return {
    store: explodingStore(store),
    tokens: verifier,
    devices: directory,
    metrics,
    ready: async () => readyState,
    log: pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) }),
    deviceAdmin: {
      add: async (tenant, devices) =>
        devices.map(({ device, type }) => {
          adminCalls.push(`add ${tenant} ${device} ${type ?? '-'}`);
          added.add(`${tenant}/${device}`);
          return { device, username: `${tenant}/${device}`, password: randomBytes(8).toString('hex') };
        }),
      revoke: async (tenant, device) => {
        adminCalls.push(`revoke ${tenant} ${device}`);
        return added.delete(`${tenant}/${device}`);
      },
    },
    ...extra,
  };
}

async function listen(a: FastifyInstance): Promise<string> {
  await a.listen({ host: '127.0.0.1', port: 0 });
  const address = a.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}

type Res = HttpResult;
function call(method: string, path: string, tok?: string, body?: unknown, headers: Record<string, string> = {}, at = base): Promise<Res> {
  return httpCall(at + path, { method, token: tok, body, headers, timeoutMs: 10_000 });
}
const get = (path: string, tok?: string) => call('GET', path, tok);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qs-api-'));
  store = await openDuckDbStore({ path: join(dir, 'store.duckdb') });
  await store.writeReadings(readings);
  await store.writeDeadLetters(deadLetters);
  app = await buildApi(deps(), { plugins: [dispatchPlugin] });
  base = await listen(app);
});

afterAll(async () => {
  await app?.close();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('operations endpoints', () => {
  it('health answers without a token', async () => {
    const r = await get('/health');
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('ok');
    expect(r.body.uptime_s).toBeGreaterThanOrEqual(0);
  });

  it('ready reports the checks and turns 503 when one fails', async () => {
    let r = await get('/ready');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ready: true, checks: { store: true, broker: true } });
    readyState = { ready: false, checks: { store: false, broker: true } };
    r = await get('/ready');
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ ready: false, checks: { store: false, broker: true } });
    readyState = { ready: true, checks: { store: true, broker: true } };
  });

  it('metrics expose request counts and durations by route pattern and status', async () => {
    for (let i = 0; i < 3; i++) await get('/api/v1/devices/hm-1', tokens.aRead);
    await get('/api/v1/devices', 'wrong-token');
    await get('/no/such/route');
    const r = await get('/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    const count = (labels: string) => Number(new RegExp(`querstrom_http_requests_total\\{${labels}\\} (\\d+)`).exec(r.text)?.[1] ?? 'NaN');
    expect(count('method="GET",route="/api/v1/devices/:device",status_code="200"')).toBeGreaterThanOrEqual(3);
    expect(count('method="GET",route="/api/v1/devices",status_code="401"')).toBeGreaterThanOrEqual(1);
    expect(count('method="GET",route="unmatched",status_code="404"')).toBeGreaterThanOrEqual(1);
    expect(r.text).toMatch(/querstrom_http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/api\/v1\/devices\/:device",status_code="200"\} \d+/);
    // Raw ids never become labels.
    expect(r.text).not.toContain('route="/api/v1/devices/hm-1"');
  });

  it('unknown routes are 404 JSON', async () => {
    const r = await get('/api/v2/nothing');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: 'not_found', message: 'no route GET /api/v2/nothing' });
  });
});

describe('authentication and roles', () => {
  const apiGets = ['/api/v1/devices', '/api/v1/devices/hm-1', '/api/v1/series', '/api/v1/series/aggregate?device=hm-1&metric=heat_power', '/api/v1/latest', '/api/v1/dead-letters', '/api/v1/dispatch/status'];

  it('every API route answers 401 JSON without, with malformed, or with unknown tokens', async () => {
    for (const path of apiGets) {
      for (const headers of [{} as Record<string, string>, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, { authorization: 'Bearer' }, { authorization: `Bearer ${token()}` }]) {
        const r = await call('GET', path, undefined, undefined, headers);
        expect(r.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(r.body.error).toBe('unauthorized');
        expect(typeof r.body.message).toBe('string');
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
    }
  });

  it('a read token may GET but gets 403 on POST and DELETE', async () => {
    expect((await get('/api/v1/devices', tokens.aRead)).status).toBe(200);
    const post = await call('POST', '/api/v1/devices', tokens.aRead, { device: 'new-1' });
    expect(post.status).toBe(403);
    expect(post.body.error).toBe('forbidden');
    const del = await call('DELETE', '/api/v1/devices/hm-1', tokens.aRead);
    expect(del.status).toBe(403);
    expect(adminCalls).toEqual([]);
  });

  it('an admin token adds a device in its own tenant and revokes it', async () => {
    const post = await call('POST', '/api/v1/devices', tokens.aAdmin, { device: 'new-1', type: 'heat_pump' });
    expect(post.status).toBe(201);
    expect(post.body.device).toBe('new-1');
    expect(post.body.username).toBe(`${A}/new-1`);
    expect(post.body.password).toMatch(/^[0-9a-f]{16}$/);
    expect(adminCalls).toContain(`add ${A} new-1 heat_pump`);

    // The body cannot name a tenant, and ids are checked before the registry sees them.
    const withTenant = await call('POST', '/api/v1/devices', tokens.aAdmin, { device: 'x', tenant: B });
    expect(withTenant.status).toBe(400);
    expect(withTenant.body.field).toBe('tenant');
    const badId = await call('POST', '/api/v1/devices', tokens.aAdmin, { device: 'bad id' });
    expect(badId.status).toBe(400);
    expect(badId.body.field).toBe('device');
    const noBody = await call('POST', '/api/v1/devices', tokens.aAdmin);
    expect(noBody.status).toBe(400);
    const badJson = await call('POST', '/api/v1/devices', tokens.aAdmin, undefined, { 'content-type': 'application/json' });
    expect(badJson.status).toBe(400);

    const del = await call('DELETE', '/api/v1/devices/new-1', tokens.aAdmin);
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ device: 'new-1', revoked: true });
    expect(adminCalls).toContain(`revoke ${A} new-1`);
    const missing = await call('DELETE', '/api/v1/devices/never-added', tokens.aAdmin);
    expect(missing.status).toBe(404);
    expect(adminCalls.filter((c) => c.includes(B))).toEqual([]);
  });

  it('without deviceAdmin the admin routes do not exist', async () => {
    const bare = await buildApi(deps({ deviceAdmin: undefined }));
    const at = await listen(bare);
    try {
      expect((await call('POST', '/api/v1/devices', tokens.aAdmin, { device: 'n' }, {}, at)).status).toBe(404);
      expect((await call('DELETE', '/api/v1/devices/hm-1', tokens.aAdmin, undefined, {}, at)).status).toBe(404);
      expect((await call('GET', '/api/v1/devices', tokens.aAdmin, undefined, {}, at)).status).toBe(200);
    } finally {
      await bare.close();
    }
  });

  it('a registry that fails (not refuses) is a 500 with no internal message, logged', async () => {
    const failing = await buildApi(deps({ deviceAdmin: { add: async () => Promise.reject(new Error('EIO: i/o error, write /data/identity.json')), revoke: async () => false } }));
    const at = await listen(failing);
    try {
      const post = await call('POST', '/api/v1/devices', tokens.aAdmin, { device: 'n-1' }, {}, at);
      expect(post.status).toBe(500);
      expect(post.body).toMatchObject({ error: 'internal', message: 'internal server error' });
      expect(JSON.stringify(post.body)).not.toContain('EIO');
      expect(logLines.some((l) => l.includes('EIO: i/o error'))).toBe(true);
    } finally {
      await failing.close();
    }
  });

  it('plugins mount under /api/v1 behind the same auth, scoped to the token tenant', async () => {
    expect((await get('/api/v1/dispatch/status', tokens.aRead)).body).toEqual({ tenant: A });
    expect((await get('/api/v1/dispatch/status', tokens.bRead)).body).toEqual({ tenant: B });
  });
});

describe('tenant isolation', () => {
  it("A's token lists only A's devices, and B's only B's", async () => {
    const a = await get('/api/v1/devices', tokens.aRead);
    expect(a.body.devices.map((d: { device: string }) => d.device).sort()).toEqual(['gw-1/sub-1', 'hm-1', 'shared-1']);
    expect(a.text).not.toContain('secret-b');
    expect(a.text).not.toContain('999');
    const b = await get('/api/v1/devices', tokens.bRead);
    expect(b.body.devices.map((d: { device: string }) => d.device).sort()).toEqual(['secret-b', 'shared-1']);
  });

  it("guessing B's device id gives the same 404 as an id that does not exist", async () => {
    const guessed = await get('/api/v1/devices/secret-b', tokens.aRead);
    const absent = await get('/api/v1/devices/no-such-1', tokens.aRead);
    expect(guessed.status).toBe(404);
    expect(absent.status).toBe(404);
    expect(guessed.body.error).toBe(absent.body.error);
    expect(guessed.body.message.replace('secret-b', 'X')).toBe(absent.body.message.replace('no-such-1', 'X'));
    expect((await get('/api/v1/devices/secret-b', tokens.bRead)).status).toBe(200);
    // A shared id resolves to the caller's own device.
    expect((await get('/api/v1/devices/shared-1', tokens.aRead)).body.messages).toBe(10);
    expect((await get('/api/v1/devices/shared-1', tokens.bRead)).body.messages).toBe(999);
  });

  it("A never sees B's readings: range, aggregate, latest, by guessed or shared ids", async () => {
    const range = `from=${T0}&to=${T0 + HOUR}`;
    const guessed = await get(`/api/v1/series?device=secret-b&${range}`, tokens.aRead);
    expect(guessed.status).toBe(200);
    expect(guessed.body.readings).toEqual([]);
    const agg = await get(`/api/v1/series/aggregate?device=secret-b&metric=heat_power&${range}&bucket=1h`, tokens.aRead);
    expect(agg.body.buckets).toEqual([]);
    expect((await get('/api/v1/latest?device=secret-b', tokens.aRead)).body.readings).toEqual([]);

    const all = await get(`/api/v1/series?${range}&limit=50000`, tokens.aRead);
    const own = readings.filter((r) => r.tenant === A);
    expect(all.body.readings).toHaveLength(own.length);
    expect(all.body.readings.every((r: Reading) => r.value > -1000 && r.value < 5000)).toBe(true);

    const shared = await get(`/api/v1/series?device=shared-1&metric=heat_power&${range}`, tokens.aRead);
    expect(shared.body.readings.map((r: Reading) => r.value)).toEqual([1, 2, 3, 4, 5]);
    const sharedB = await get(`/api/v1/series?device=shared-1&metric=heat_power&${range}`, tokens.bRead);
    expect(sharedB.body.readings.map((r: Reading) => r.value)).toEqual([-1000, -1001, -1002, -1003, -1004]);
    const sharedAgg = await get(`/api/v1/series/aggregate?device=shared-1&metric=heat_power&${range}&bucket=1h&fn=min,max`, tokens.aRead);
    expect(sharedAgg.body.buckets).toEqual([{ ts: T0, count: 5, min: 1, max: 5 }]);

    const latest = await get('/api/v1/latest', tokens.aRead);
    expect(latest.body.readings.length).toBeGreaterThan(0);
    expect(latest.text).not.toContain('secret-b');
    expect(latest.body.readings.every((r: Reading) => r.value > -1000 && r.value < 5000)).toBe(true);
    const latestB = await get('/api/v1/latest?device=secret-b', tokens.bRead);
    expect(latestB.body.readings.map((r: Reading) => r.value)).toEqual([5004]);
  });

  it("A never sees B's dead letters", async () => {
    const a = await get('/api/v1/dead-letters', tokens.aRead);
    expect(a.body.deadLetters).toHaveLength(3);
    expect(a.text).not.toContain('b-secret');
    expect(a.text).not.toContain('b-only');
    expect((await get('/api/v1/dead-letters?device=secret-b', tokens.aRead)).body.deadLetters).toEqual([]);
    expect((await get('/api/v1/dead-letters?device=shared-1', tokens.aRead)).body.deadLetters.map((d: DeadLetter) => d.reason)).toEqual(['samples: too small']);
    expect((await get('/api/v1/dead-letters', tokens.bRead)).body.deadLetters).toHaveLength(2);
  });

  it('a tenant parameter from the client is refused, not trusted', async () => {
    for (const path of [`/api/v1/series?tenant=${B}`, `/api/v1/latest?tenant=${B}`, `/api/v1/dead-letters?tenant=${B}`, `/api/v1/series/aggregate?device=shared-1&metric=heat_power&tenant=${B}`]) {
      const r = await get(path, tokens.aRead);
      expect(r.status, path).toBe(400);
      expect(r.body.field).toBe('tenant');
    }
  });
});

/** Reference bucketing, independent of the store: epoch-aligned buckets over [from, to). */
function expectedBuckets(rows: Reading[], from: number, to: number, bucketMs: number) {
  const byBucket = new Map<number, number[]>();
  for (const r of [...rows].sort((x, y) => x.ts - y.ts)) {
    if (r.ts < from || r.ts >= to) continue;
    const b = Math.floor(r.ts / bucketMs) * bucketMs;
    byBucket.set(b, [...(byBucket.get(b) ?? []), r.value]);
  }
  return [...byBucket.entries()].map(([ts, v]) => ({
    ts,
    count: v.length,
    avg: v.reduce((s, x) => s + x, 0) / v.length,
    min: Math.min(...v),
    max: Math.max(...v),
    last: v[v.length - 1]!,
  }));
}

describe('series', () => {
  const hm = readings.filter((r) => r.tenant === A && r.device === 'hm-1' && r.metric === 'heat_power');

  it('range returns the readings in [from, to), oldest first, with RFC 3339 or epoch ms', async () => {
    const from = T0 + 10 * MIN;
    const to = T0 + 20 * MIN; // exclusive: the reading at minute 20 is not in
    const byMs = await get(`/api/v1/series?device=hm-1&metric=heat_power&from=${from}&to=${to}`, tokens.aRead);
    expect(byMs.status).toBe(200);
    expect(byMs.body.readings.map((r: Reading) => r.value)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(byMs.body.readings[0]).toEqual({ device: 'hm-1', metric: 'heat_power', ts: from, value: 10, unit: 'kW' });
    expect(byMs.body.truncated).toBe(false);
    const iso = (ms: number) => new Date(ms).toISOString();
    const byIso = await get(`/api/v1/series?device=hm-1&metric=heat_power&from=${iso(from)}&to=${encodeURIComponent(iso(to).replace('Z', '+00:00'))}`, tokens.aRead);
    expect(byIso.body.readings).toEqual(byMs.body.readings);
    expect(byIso.body.from).toBe(from);
    expect(byIso.body.to).toBe(to);
  });

  it('limit cuts the answer and says so', async () => {
    const r = await get(`/api/v1/series?device=hm-1&metric=heat_power&from=${T0}&to=${T0 + HOUR}&limit=7`, tokens.aRead);
    expect(r.body.readings.map((x: Reading) => x.value)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(r.body.truncated).toBe(true);
    expect(r.body.limit).toBe(7);
  });

  it('a range of several slices comes whole and in order', async () => {
    // In tenant B, days after the other readings: the other tests' answers stay as they are.
    const n = 3 * SLICE_ITEMS + 17;
    const t = T0 + 10 * 24 * HOUR;
    await store.writeReadings(Array.from({ length: n }, (_, i) => ({ tenant: B, device: 'bulk-1', metric: 'heat_power', ts: t + i * 1000, value: i / 4, unit: 'kW' })));
    const r = await get(`/api/v1/series?device=bulk-1&metric=heat_power&from=${t}&to=${t + n * 1000}&limit=50000`, tokens.bRead);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.body).toMatchObject({ from: t, to: t + n * 1000, limit: 50000, truncated: false });
    expect(r.body.readings).toHaveLength(n);
    expect(r.body.readings.map((x: Reading) => x.value)).toEqual(Array.from({ length: n }, (_, i) => i / 4));
    expect(r.body.readings[n - 1]).toEqual({ device: 'bulk-1', metric: 'heat_power', ts: t + (n - 1) * 1000, value: (n - 1) / 4, unit: 'kW' });
    const cut = await get(`/api/v1/series?device=bulk-1&metric=heat_power&from=${t}&to=${t + n * 1000}&limit=${2 * SLICE_ITEMS}`, tokens.bRead);
    expect(cut.body.readings).toHaveLength(2 * SLICE_ITEMS);
    expect(cut.body.truncated).toBe(true);
  });

  it('filters by metric and by sub-device id', async () => {
    const temps = await get(`/api/v1/series?device=hm-1&metric=supply_temp&from=${T0}&to=${T0 + HOUR}`, tokens.aRead);
    expect(temps.body.readings).toHaveLength(10);
    expect(temps.body.readings.every((r: Reading) => r.unit === 'degC')).toBe(true);
    const sub = await get(`/api/v1/series?device=${encodeURIComponent('gw-1/sub-1')}&from=${T0}&to=${T0 + HOUR}`, tokens.aRead);
    expect(sub.body.readings.map((r: Reading) => r.value)).toEqual([100, 101, 102, 103, 104]);
  });

  it('aggregates match a reference computation on known data', async () => {
    const from = T0 + 5 * MIN;
    const to = T0 + 59 * MIN;
    const r = await get(`/api/v1/series/aggregate?device=hm-1&metric=heat_power&from=${from}&to=${to}&bucket=10m&fn=avg,min,max,last`, tokens.aRead);
    expect(r.status).toBe(200);
    expect(r.body.bucketMs).toBe(600_000);
    expect(r.body.fns).toEqual(['avg', 'min', 'max', 'last']);
    const want = expectedBuckets(hm, from, to, 600_000);
    expect(r.body.buckets).toHaveLength(6);
    expect(r.body.buckets).toHaveLength(want.length);
    for (const [i, b] of (r.body.buckets as Array<Record<string, number>>).entries()) {
      const w = want[i]!;
      expect(b.ts).toBe(w.ts);
      expect(b.count).toBe(w.count);
      expect(b.avg).toBeCloseTo(w.avg, 9);
      expect(b.min).toBe(w.min);
      expect(b.max).toBe(w.max);
      expect(b.last).toBe(w.last);
    }
    // Spot values: the first bucket is cut at minute 5, the second is whole.
    expect(r.body.buckets[0]).toMatchObject({ ts: T0, count: 5, avg: 7, min: 5, max: 9, last: 9 });
    expect(r.body.buckets[1]).toMatchObject({ ts: T0 + 10 * MIN, count: 10, avg: 14.5 });
  });

  it('bucket accepts 30s, 5m, 1h, 1d and plain milliseconds; fn picks the fields', async () => {
    const q = (bucket: string, fn = 'avg') => get(`/api/v1/series/aggregate?device=hm-1&metric=heat_power&from=${T0}&to=${T0 + HOUR - 1}&bucket=${bucket}&fn=${fn}`, tokens.aRead);
    const hourly = await q('1h', 'max');
    expect(hourly.body.buckets).toEqual([{ ts: T0, count: 60, max: 59 }]);
    expect((await q('3600000', 'max')).body.buckets).toEqual(hourly.body.buckets);
    expect((await q('1d', 'max')).body.buckets).toEqual([{ ts: T0, count: 60, max: 59 }]);
    const fiveMin = await q('5m');
    expect(fiveMin.body.bucketMs).toBe(300_000);
    expect(fiveMin.body.buckets).toHaveLength(12);
    expect(fiveMin.body.buckets[11]).toEqual({ ts: T0 + 55 * MIN, count: 5, avg: 57 });
    expect((await q('30s')).body.buckets).toHaveLength(60);
  });

  it('latest gives the newest value per device and metric', async () => {
    const r = await get('/api/v1/latest?device=hm-1', tokens.aRead);
    const byMetric = Object.fromEntries(r.body.readings.map((x: Reading) => [x.metric, x]));
    expect(byMetric.heat_power).toEqual({ device: 'hm-1', metric: 'heat_power', ts: T0 + 59 * MIN, value: 59, unit: 'kW' });
    expect(byMetric.supply_temp.value).toBeCloseTo(70.9, 9);
    const one = await get('/api/v1/latest?device=hm-1&metric=supply_temp', tokens.aRead);
    expect(one.body.readings).toHaveLength(1);
    const all = await get('/api/v1/latest', tokens.aRead);
    const keys = all.body.readings.map((x: Reading) => `${x.device}|${x.metric}`).sort();
    expect(keys).toEqual(['gw-1/sub-1|heat_power', 'hm-1|heat_power', 'hm-1|supply_temp', 'shared-1|heat_power']);
  });

  it('dead letters come newest first with topic, reason, excerpt, receivedAt; since and limit apply', async () => {
    const r = await get('/api/v1/dead-letters?device=hm-1', tokens.aRead);
    expect(r.body.deadLetters).toEqual([
      { device: 'hm-1', topic: `qs/v1/${A}/hm-1/data`, reason: 'malformed JSON', excerpt: '{oops', receivedAt: T0 + 3 * MIN },
      { device: 'hm-1', topic: `qs/v1/${A}/hm-1/data`, reason: 'seq: expected number', excerpt: '{"seq":"x"}', receivedAt: T0 + 1 * MIN },
    ]);
    const since = await get(`/api/v1/dead-letters?since=${new Date(T0 + 2 * MIN).toISOString()}`, tokens.aRead);
    expect(since.body.deadLetters.map((d: DeadLetter) => d.receivedAt)).toEqual([T0 + 3 * MIN, T0 + 2 * MIN]);
    const one = await get('/api/v1/dead-letters?limit=1', tokens.aRead);
    expect(one.body.deadLetters.map((d: DeadLetter) => d.receivedAt)).toEqual([T0 + 3 * MIN]);
  });
});

describe('devices', () => {
  it('lists status fields and derives online/offline/stale', async () => {
    const r = await get('/api/v1/devices', tokens.aRead);
    const byId = Object.fromEntries(r.body.devices.map((d: { device: string }) => [d.device, d]));
    expect(byId['hm-1']).toEqual({
      device: 'hm-1', status: 'online', type: 'heat_meter', firmware: '1.2.0', intervalS: 60, online: true, connected: true, stale: false,
      lastSeen: T0 + 59 * MIN, messages: 10, readings: 60, rejects: 0, duplicates: 0, flagged: 0,
    });
    expect(byId['gw-1/sub-1'].status).toBe('offline');
    expect(byId['shared-1'].status).toBe('stale');
    expect(byId['shared-1'].lastReject).toEqual({ at: T0 + 5 * MIN, reason: 'samples.0.ts: expected number' });
    // Internal fields of the directory (here a Map of units) never leave the server.
    expect(r.text).not.toContain('units');
  });

  it('filters, orders and limits on request, with the counts over all of the tenant\'s devices', async () => {
    const ids = (r: HttpResult) => (r.body.devices as { device: string }[]).map((d) => d.device);
    const all = await get('/api/v1/devices', tokens.aRead);
    expect(ids(all)).toEqual(['gw-1/sub-1', 'hm-1', 'shared-1']);
    expect(all.body.total).toBe(3);
    const counts = { online: 1, stale: 1, offline: 1, never_connected: 0, rejecting: 1 };
    expect(all.body.counts).toEqual(counts);
    // Problems first: offline before stale; the online one is not a problem.
    const problems = await get('/api/v1/devices?status=problems&order=severity', tokens.aRead);
    expect([ids(problems), problems.body.total]).toEqual([['gw-1/sub-1', 'shared-1'], 2]);
    const top = await get('/api/v1/devices?order=severity&limit=1', tokens.aRead);
    expect([ids(top), top.body.total, top.body.counts]).toEqual([['gw-1/sub-1'], 3, counts]);
    // The text matches the id or the type, in any case.
    expect(ids(await get('/api/v1/devices?q=HEAT', tokens.aRead))).toEqual(['gw-1/sub-1', 'hm-1']);
    expect(ids(await get('/api/v1/devices?q=sub', tokens.aRead))).toEqual(['gw-1/sub-1']);
    expect(ids(await get('/api/v1/devices?status=rejecting', tokens.aRead))).toEqual(['shared-1']);
    expect(ids(await get('/api/v1/devices?status=online', tokens.aRead))).toEqual(['hm-1']);
    const b = await get('/api/v1/devices', tokens.bRead);
    expect([ids(b), b.body.counts]).toEqual([['secret-b', 'shared-1'], { online: 2, stale: 0, offline: 0, never_connected: 0, rejecting: 0 }]);
  });

  it('sub-device ids work URL-encoded and unencoded', async () => {
    const encoded = await get('/api/v1/devices/gw-1%2Fsub-1', tokens.aRead);
    const plain = await get('/api/v1/devices/gw-1/sub-1', tokens.aRead);
    expect(encoded.status).toBe(200);
    expect(encoded.body.device).toBe('gw-1/sub-1');
    expect(plain.body).toEqual(encoded.body);
    const tooDeep = await get('/api/v1/devices/gw-1/sub-1/x', tokens.aRead);
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.field).toBe('device');
  });
});

describe('validation', () => {
  const cases: Array<[string, string]> = [
    ['/api/v1/series?from=yesterday', 'from'],
    ['/api/v1/series?to=2026-13-45T99:00:00Z', 'to'],
    ['/api/v1/series?from=2000&to=1000', 'from'],
    ['/api/v1/series?limit=0', 'limit'],
    ['/api/v1/series?limit=abc', 'limit'],
    ['/api/v1/series?limit=50001', 'limit'],
    ['/api/v1/series?metric=Bad-Metric', 'metric'],
    ['/api/v1/series?device=a/b/c', 'device'],
    ['/api/v1/series?device=a&device=b', 'device'],
    ['/api/v1/series/aggregate?metric=heat_power', 'device'],
    ['/api/v1/series/aggregate?device=hm-1', 'metric'],
    ['/api/v1/series/aggregate?device=hm-1&metric=heat_power&bucket=5x', 'bucket'],
    ['/api/v1/series/aggregate?device=hm-1&metric=heat_power&bucket=0', 'bucket'],
    ['/api/v1/series/aggregate?device=hm-1&metric=heat_power&from=0&bucket=1s', 'bucket'],
    ['/api/v1/series/aggregate?device=hm-1&metric=heat_power&fn=median', 'fn'],
    ['/api/v1/series/aggregate?device=hm-1&metric=heat_power&fn=avg,', 'fn'],
    ['/api/v1/latest?metric=9lives', 'metric'],
    ['/api/v1/dead-letters?since=soon', 'since'],
    ['/api/v1/dead-letters?limit=5000', 'limit'],
    ['/api/v1/devices?status=broken', 'status'],
    ['/api/v1/devices?order=random', 'order'],
    ['/api/v1/devices?limit=0', 'limit'],
    ['/api/v1/dead-letters?colour=red', 'colour'],
  ];
  it.each(cases)('%s → 400 naming %s', async (path, field) => {
    const r = await get(path, tokens.aRead);
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('bad_request');
    expect(r.body.field).toBe(field);
    expect(r.body.message).toContain(field);
    expect(errorSchema.safeParse(r.body).success).toBe(true);
  });
});

describe('errors and logs', () => {
  it('a failing store gives 500 without stack or internal message, logged with the request id', async () => {
    const r = await call('GET', '/api/v1/series?device=explode', tokens.aRead, undefined, { 'x-request-id': 'test-req-42' });
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ error: 'internal', message: 'internal server error', requestId: 'test-req-42' });
    expect(r.text).not.toMatch(/duckdb|secret|\bat /);
    expect(r.headers.get('x-request-id')).toBe('test-req-42');
    const logged = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.reqId === 'test-req-42');
    expect(logged.some((l) => JSON.stringify(l.err ?? '').includes('duckdb exploded'))).toBe(true);
  });

  it('request ids are generated when absent or unsafe, and echoed', async () => {
    const unsafe = await call('GET', '/health', undefined, undefined, { 'x-request-id': 'bad id with "quotes" and spaces' });
    expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const absent = await get('/health');
    expect(absent.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(absent.headers.get('x-request-id')).not.toBe(unsafe.headers.get('x-request-id'));
  });

  it('no bearer token ever appears in the logs', async () => {
    // Requests with good, bad and revoked-looking tokens have all been made by now; add one more failure.
    await call('GET', '/api/v1/devices', undefined, undefined, { authorization: `Bearer ${tokens.aAdmin}x` });
    expect(logLines.length).toBeGreaterThan(20);
    const all = logLines.join('\n');
    for (const t of Object.values(tokens)) expect(all).not.toContain(t);
    expect(all).not.toMatch(/authorization"\s*:\s*"Bearer/i);
  });
});

describe('MQTT contract over HTTP', () => {
  it('serves the AsyncAPI document and the JSON Schemas without a token, equal to firmware-specs/', async () => {
    const specs = (rel: string) => readFileSync(join(defaultSpecsDir, rel), 'utf8');
    const doc = await get('/asyncapi.json');
    expect(doc.status).toBe(200);
    expect(doc.headers.get('content-type')).toMatch(/^application\/json/);
    expect(doc.text).toBe(specs('asyncapi.json'));
    expect(JSON.parse(doc.text).channels.dispatchLatest.address).toBe('qs/v1/{tenant}/dispatch/latest');
    for (const name of ['data.schema.json', 'dispatch-kpis.schema.json']) {
      const r = await get(`/schemas/${name}`);
      expect(r.status, name).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^application\/schema\+json/);
      expect(r.text).toBe(specs(`schemas/${name}`));
    }
    const missing = await get('/schemas/nope.schema.json');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.text).message).toContain('dispatch-latest.schema.json');
    expect((await get('/schemas/..%2Fasyncapi.json')).status).toBe(404);
  });
});

describe('OpenAPI', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let doc: any;
  beforeAll(async () => {
    const r = await get('/openapi.json');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    doc = JSON.parse(r.text);
  });

  it('documents every route, with bearer security on /api/v1', () => {
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, o]) => Object.keys(o).map((m) => `${m.toUpperCase()} ${p}`));
    expect(ops.sort()).toEqual(
      [
        'GET /health',
        'GET /ready',
        'GET /metrics',
        'GET /openapi.json',
        'GET /asyncapi.json',
        'GET /schemas/{name}',
        'GET /api/v1/devices',
        'POST /api/v1/devices',
        'POST /api/v1/devices/batch',
        'POST /api/v1/devices/import',
        'GET /api/v1/devices/{device}',
        'DELETE /api/v1/devices/{device}',
        'GET /api/v1/series',
        'GET /api/v1/series/aggregate',
        'GET /api/v1/latest',
        'GET /api/v1/dead-letters',
        'GET /api/v1/dispatch/status',
      ].sort(),
    );
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const [p, methods] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [m, op] of Object.entries(methods)) {
        expect(op.security, `${m} ${p}`).toEqual(p.startsWith('/api/v1') ? [{ bearer: [] }] : []);
        if (p.startsWith('/api/v1')) expect(op.responses['401'], `${m} ${p}`).toBeDefined();
        if (m === 'post' || m === 'delete') expect(op.responses['403']).toBeDefined();
        expect(typeof op.operationId).toBe('string');
      }
    }
  });

  it('parameters, bodies and responses come from the zod schemas', () => {
    const agg = doc.paths['/api/v1/series/aggregate'].get;
    const params = Object.fromEntries(agg.parameters.map((p: { name: string }) => [p.name, p]));
    expect(Object.keys(params).sort()).toEqual(['bucket', 'device', 'fn', 'from', 'metric', 'to']);
    expect(params.device).toMatchObject({ in: 'query', required: true });
    expect(params.bucket).toMatchObject({ in: 'query', required: false });
    expect(params.fn.schema.pattern).toContain('avg');
    expect(doc.paths['/api/v1/devices/{device}'].get.parameters[0]).toMatchObject({ name: 'device', in: 'path', required: true });
    expect(doc.paths['/api/v1/devices'].post.requestBody.content['application/json'].schema.required).toEqual(['device']);
    expect(doc.paths['/api/v1/devices/{device}'].get.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Device' });

    const withoutDialect = (s: object) => {
      const { $schema: _drop, ...rest } = s as Record<string, unknown>;
      return rest;
    };
    expect(doc.components.schemas.Device).toEqual(withoutDialect(z.toJSONSchema(deviceSchema)));
    expect(doc.components.schemas.Error).toEqual(withoutDialect(z.toJSONSchema(errorSchema)));
    expect(doc.components.schemas.Reading).toEqual(withoutDialect(z.toJSONSchema(readingSchema)));
  });

  it('every $ref resolves inside the document', () => {
    const refs: string[] = [];
    const walk = (n: unknown): void => {
      if (Array.isArray(n)) n.forEach(walk);
      else if (n && typeof n === 'object') for (const [k, v] of Object.entries(n)) (k === '$ref' && typeof v === 'string' ? refs.push(v) : walk(v));
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[ref.slice('#/components/schemas/'.length)], ref).toBeDefined();
    }
  });
});

describe('answers sent in slices', () => {
  /** Just enough of a reply to take what sendSliced sends. */
  const fakeReply = () => {
    const reply = { request: { method: 'GET', url: '/api/v1/series' }, sent: undefined as unknown, type: () => reply, send: (body: unknown) => ((reply.sent = body), reply) };
    return reply;
  };
  /** Counts turns of the event loop until stopped. */
  const turnCounter = () => {
    const c = { turns: 0, on: true };
    const tick = () => {
      c.turns++;
      if (c.on) setImmediate(tick);
    };
    setImmediate(tick);
    return c;
  };
  const items = Array.from({ length: 3 * SLICE_ITEMS }, (_, i) => ({ device: 'hm-1', metric: 'heat_power', ts: T0 + i, value: i, unit: 'kW', extra: 'dropped' }));
  const envelope = { from: T0, to: T0 + items.length, limit: 50000, truncated: false };

  it('checks and writes a slice at a time, giving the event loop turns in between, and the JSON is whole', async () => {
    const reply = fakeReply();
    const checking = turnCounter();
    await sendSliced(reply as unknown as FastifyReply, seriesSchema, envelope, 'readings', items);
    checking.on = false;
    // Checked in one go, the counter would not have run before sendSliced returned.
    expect(checking.turns).toBeGreaterThanOrEqual(2);
    const writing = turnCounter();
    const chunks: string[] = [];
    for await (const chunk of reply.sent as AsyncIterable<Buffer | string>) chunks.push(chunk.toString());
    writing.on = false;
    expect(writing.turns).toBeGreaterThanOrEqual(2);
    const parsed = JSON.parse(chunks.join(''));
    // The schema's fields only: what the serializer would have written.
    expect(parsed).toEqual({ ...envelope, readings: items.map(({ extra: _drop, ...r }) => r) });
  });

  it('finds a bad item before sending anything, naming where it is (the 500 path)', async () => {
    const reply = fakeReply();
    const bad = items.map((r, i) => (i === 4321 ? { ...r, value: 'NaN' } : r));
    await expect(sendSliced(reply as unknown as FastifyReply, seriesSchema, envelope, 'readings', bad)).rejects.toThrow(/readings\[4321\]/);
    expect(reply.sent).toBeUndefined();
  });

  it('an empty list is an empty array', async () => {
    const reply = fakeReply();
    await sendSliced(reply as unknown as FastifyReply, seriesSchema, envelope, 'readings', []);
    const chunks: string[] = [];
    for await (const chunk of reply.sent as AsyncIterable<Buffer | string>) chunks.push(chunk.toString());
    expect(JSON.parse(chunks.join(''))).toEqual({ ...envelope, readings: [] });
  });
});
