/**
 * /api/v1/dispatch/*: the live dispatch of the token's tenant. Latest result, a live stream
 * (server-sent events), alarms, the audit trail, units with their mode and last command, mode
 * switching (admin), and the last tick's LP for auditors. A tenant without a coupling engine
 * gets 404 everywhere, saying so.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, apiSchemas, requireIdentity, type ZodTypeProvider } from '../api/index.ts';
import { dispatchResultSchema } from '../coupling/index.ts';
import type { DispatchHub } from './hub.ts';
import type { DispatchService } from './service.ts';
import { alarmListSchema, auditListSchema, auditQuerySchema, modeBodySchema, streamQuerySchema, unitListSchema, unitParamsSchema, unitViewSchema } from './schemas.ts';

/** Comment line that keeps proxies and clients from timing out an idle stream. */
export const HEARTBEAT_MS = 15_000;
/** Live streams per tenant; each costs a socket and a JSON write per tick. */
export const MAX_STREAMS_PER_TENANT = 64;

const err = apiSchemas.errorSchema;
const tags = ['dispatch'];

export async function dispatchRoutes(app: FastifyInstance, hub: DispatchHub, opts: { heartbeatMs?: number } = {}): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const heartbeatMs = opts.heartbeatMs ?? HEARTBEAT_MS;

  const serviceFor = (request: FastifyRequest): DispatchService => {
    const { tenant } = requireIdentity(request);
    const s = hub.service(tenant);
    if (!s) throw new ApiError(404, 'not_found', `no coupling engine runs for tenant "${tenant}"; add { tenant: ${tenant}, city: <city.yaml> } to the server config's coupling list`);
    return s;
  };
  const noTickYet = (s: DispatchService) => {
    const waiting = s.waitingFor;
    return new ApiError(
      404,
      'not_found',
      waiting.length > 0
        ? `no dispatch tick yet: waiting for the first readings of ${waiting.slice(0, 5).join(', ')}${waiting.length > 5 ? ` and ${waiting.length - 5} more` : ''} (at most warmupMs after the start)`
        : 'no dispatch tick yet; the first one follows shortly after the start',
    );
  };

  r.get(
    '/dispatch/latest',
    {
      schema: {
        summary: 'The latest dispatch: setpoints, flows, storage, prices, KPIs, explanations, alarms and inputs',
        tags,
        response: { 200: dispatchResultSchema, 401: err, 404: err },
      },
    },
    async (request) => {
      const s = serviceFor(request);
      if (!s.latest) throw noTickYet(s);
      return s.latest;
    },
  );

  r.get(
    '/dispatch/stream',
    {
      schema: {
        summary: `Live dispatch as server-sent events: "event: dispatch" with the result JSON on every tick, or at most every minIntervalMs (the latest one first), a comment line every ${HEARTBEAT_MS / 1000} s`,
        tags,
        produces: 'text/event-stream',
        querystring: streamQuerySchema,
        response: { 400: err, 401: err, 404: err, 429: err },
      },
    },
    async (request, reply) => {
      const s = serviceFor(request);
      if (s.subscribers >= MAX_STREAMS_PER_TENANT) throw new ApiError(429, 'too_many_requests', `at most ${MAX_STREAMS_PER_TENANT} live dispatch streams per tenant are open; close one or poll /dispatch/latest`);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
      });
      res.write(`retry: 3000\n\n`);
      // Latest wins: a client too slow to take a tick skips it instead of buffering without bound.
      const send = (json: string, tick: number) => {
        if (res.writableNeedDrain || res.writableEnded || res.destroyed) return;
        res.write(`event: dispatch\nid: ${tick}\ndata: ${json}\n\n`);
      };
      // With minIntervalMs, ticks in between are coalesced: the interval's latest goes out at its end.
      const minIntervalMs = request.query.minIntervalMs;
      let sentAt = -Infinity;
      let pending: { json: string; tick: number } | undefined;
      let flushTimer: NodeJS.Timeout | undefined;
      const flush = () => {
        flushTimer = undefined;
        if (!pending) return;
        sentAt = Date.now();
        send(pending.json, pending.tick);
        pending = undefined;
      };
      const offer = (json: string, tick: number) => {
        pending = { json, tick };
        if (flushTimer) return;
        const wait = sentAt + minIntervalMs - Date.now();
        if (wait <= 0) flush();
        else flushTimer = setTimeout(flush, wait);
      };
      const first = s.latestJson;
      if (first !== undefined && s.latest) offer(first, s.latest.tick);
      const unsubscribe = s.subscribe((json, result) => offer(json, result.tick));
      const heartbeat = setInterval(() => {
        if (!res.writableNeedDrain && !res.writableEnded && !res.destroyed) res.write(': heartbeat\n\n');
      }, heartbeatMs);
      heartbeat.unref();
      const end = () => {
        clearInterval(heartbeat);
        if (flushTimer) clearTimeout(flushTimer);
        unsubscribe();
      };
      res.once('close', end);
      res.once('error', end);
      hub.trackStream(res);
    },
  );

  r.get(
    '/dispatch/alarms',
    { schema: { summary: 'Alarms of the last tick: stale, expired, missing or rejected inputs, unmet demand, solver trouble', tags, response: { 200: alarmListSchema, 401: err, 404: err } } },
    async (request) => {
      const latest = serviceFor(request).latest;
      return latest ? { ts: latest.ts, tick: latest.tick, status: latest.status, alarms: latest.alarms } : { ts: null, tick: null, status: null, alarms: [] };
    },
  );

  r.get(
    '/dispatch/audit',
    {
      schema: {
        summary: 'Audit trail, newest first: recommendations, mode changes, commands, acks and ack timeouts',
        tags,
        querystring: auditQuerySchema,
        response: { 200: auditListSchema, 400: err, 401: err, 404: err },
      },
    },
    async (request) => {
      const q = request.query;
      return { entries: await serviceFor(request).audit.read({ since: q.since, limit: q.limit, type: q.type }) };
    },
  );

  r.get(
    '/dispatch/units',
    { schema: { summary: 'Units and storages: mode, control mapping, latest recommendation and last command with its ack state', tags, response: { 200: unitListSchema, 401: err, 404: err } } },
    async (request) => ({ units: serviceFor(request).units() }),
  );

  r.post(
    '/dispatch/units/:unit/mode',
    {
      schema: {
        summary: 'Switch a unit between advisory and automatic (admin); automatic sends the current setpoint at once',
        tags,
        params: unitParamsSchema,
        body: modeBodySchema,
        response: { 200: unitViewSchema, 400: err, 401: err, 403: err, 404: err, 409: err },
      },
    },
    async (request) => {
      const identity = requireIdentity(request);
      if (identity.role !== 'admin') throw new ApiError(403, 'forbidden', `switching a unit's mode needs an admin token; this token has role "${identity.role}"`);
      const change = serviceFor(request).setMode(request.params.unit, request.body.mode, identity.tokenId);
      if (!change.ok) throw new ApiError(change.status, change.status === 404 ? 'not_found' : 'conflict', change.message, { field: change.status === 404 ? 'unit' : 'mode' });
      return change.view;
    },
  );

  // Plain text, so outside the zod type provider (its serialiser writes JSON).
  app.get(
    '/dispatch/export.lp',
    { schema: { summary: "The last tick's problem in CPLEX LP format; re-solving it gives the tick's objective", tags, produces: 'text/plain', response: { 401: err, 404: err } } },
    async (request, reply) => {
      const s = serviceFor(request);
      const text = s.exportLp();
      if (text === undefined) throw noTickYet(s);
      return reply.type('text/plain; charset=utf-8').send(text);
    },
  );
}
