/**
 * Answers whose one array may be large (a 50,000-reading range, a fleet of 10,000 devices):
 * checked against their zod schema and written as JSON in slices, with a turn of the event loop
 * between slices. Parsed and stringified in one go, such an answer held the server's event loop
 * for over 100 ms, and every reading that arrived meanwhile (and its dispatch) waited that long.
 *
 * The answer is the same JSON the serializer would write, except that the array comes last in
 * the object. Every item is checked before the first byte is sent, so a server bug still answers
 * 500 instead of a cut-off 200.
 */
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { responseMismatch } from './zod-bridge.ts';

/** Items per slice: a few milliseconds of parsing or stringifying. */
export const SLICE_ITEMS = 2000;

/**
 * Sends `data` (shaped by `schema`, whose `arrayKey` field is an array) in slices. `map` turns
 * each stored item into its answer shape while the items are checked.
 */
export async function sendSliced<T>(
  reply: FastifyReply,
  schema: z.ZodObject,
  data: Record<string, unknown>,
  arrayKey: string,
  items: readonly T[],
  map: (item: T) => unknown = (item) => item,
): Promise<FastifyReply> {
  const field = schema.shape[arrayKey];
  if (!(field instanceof z.ZodArray)) throw new Error(`sendSliced: ${arrayKey} is not an array of the response schema`);
  const route = `${reply.request.method} ${reply.request.url} 200`;
  const head = schema.safeParse({ ...data, [arrayKey]: [] });
  if (!head.success) throw responseMismatch(route, head.error, 'its envelope');
  const itemSchema = field.element;
  const checked: unknown[] = new Array(items.length);
  for (let start = 0; start < items.length; start += SLICE_ITEMS) {
    if (start > 0) await nextTurn();
    const end = Math.min(items.length, start + SLICE_ITEMS);
    for (let i = start; i < end; i++) {
      const r = z.safeParse(itemSchema, map(items[i]!));
      if (!r.success) throw responseMismatch(route, r.error, `${arrayKey}[${i}]`);
      checked[i] = r.data;
    }
  }
  const { [arrayKey]: _, ...rest } = head.data as Record<string, unknown>;
  const envelope = JSON.stringify(rest);
  const prefix = `${envelope.slice(0, -1)}${envelope.length > 2 ? ',' : ''}${JSON.stringify(arrayKey)}:[`;
  async function* body(): AsyncGenerator<string> {
    yield prefix;
    for (let start = 0; start < checked.length; start += SLICE_ITEMS) {
      if (start > 0) await nextTurn();
      const slice = JSON.stringify(checked.slice(start, start + SLICE_ITEMS));
      yield (start > 0 ? ',' : '') + slice.slice(1, -1);
    }
    yield ']}';
  }
  return reply.type('application/json; charset=utf-8').send(Readable.from(body(), { objectMode: false }));
}
