/**
 * Production store: readings go to InfluxDB over /api/v2/write; whatever the server does not
 * accept goes to a fsynced disk spool and is resent, oldest first, once it answers again.
 *
 * Contract with the WAL applier: writeReadings() resolves only when every one of its lines
 * was accepted by the server (2xx confirmed through the client's writeSuccess hook) or sits
 * fsynced in the spool; it rejects only when neither worked (e.g. spool full), and then the
 * WAL keeps the readings and retries.
 *
 *   writeReadings ─▶ bounded line queue ─▶ up to `concurrency` batches in flight ─▶ InfluxDB
 *      (awaits when full)                        │ not accepted / server down
 *                                                ▼
 *                                    disk spool ─▶ resender (backoff probe, in order) ─▶ InfluxDB
 *
 * While the server is known to be down, new batches go straight to the spool instead of
 * waiting for a connection timeout each; the resender's next successful write marks it up.
 */
import { appendFile, mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AggregateBucket, AggregateQuery, DeadLetter, DeadLetterQuery, LatestQuery, RangeQuery, Reading, Store, WalMarker } from '../types.ts';
import { DeadLetterFile } from './dead-letters.ts';
import { writeFileAtomic } from './durable-fs.ts';
import { LineFormatter } from './line-protocol.ts';
import { BatchSender, describeFailure, type SendOutcome } from './sender.ts';
import { Spool, SpoolCorruptError, SpoolFullError, type SpoolRecord } from './spool.ts';

/** The subset of a pino logger the store uses. */
export interface StoreLog {
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface InfluxStoreOptions {
  /** Base URL of InfluxDB 2.x (or anything speaking /api/v2/write), e.g. http://influxdb:8086. */
  url: string;
  token: string;
  org: string;
  bucket: string;
  /** Spool segments, the applied-WAL-marker file, dead letters and refused lines live here. */
  spoolDir: string;
  /** Lines waiting for a batch slot; writeReadings awaits beyond this. Default 100,000. */
  maxQueueLines?: number;
  /** Lines per HTTP write. Default 5,000. */
  batchLines?: number;
  /** Longest a partial batch waits to fill while another batch is in flight. Default 5 ms. */
  flushIntervalMs?: number;
  /** HTTP writes in flight at once (the resender adds one). Default 2. */
  concurrency?: number;
  /** Socket timeout of one write. Default 10 s. */
  timeoutMs?: number;
  /** Gzip bodies above this many bytes; 0 disables. Default 0 (CPU matters more than bandwidth on a LAN). */
  gzipThreshold?: number;
  /** Backoff between probes while the server is down: starts here, doubles. Default 250 ms. */
  probeMinMs?: number;
  /** Backoff ceiling. Default 5 s. */
  probeMaxMs?: number;
  /** Spool size limit; beyond it writeReadings rejects and the WAL keeps the data. Default 8 GiB. */
  maxSpoolBytes?: number;
  /** Spool segment size. Default 64 MiB. */
  spoolSegmentBytes?: number;
  /** Dead letters kept locally (oldest dropped first). Default 100,000. */
  maxDeadLetters?: number;
  log?: StoreLog;
  metrics?: Registry;
}

export interface InfluxStoreStats {
  /** Lines the server accepted on the first try. */
  written: number;
  /** Lines put into the spool. */
  spooled: number;
  /** Spooled lines the server accepted later. */
  resent: number;
  /** Lines the server refused as invalid (kept in rejected.lp) or unreadable spool frames. */
  failed: number;
  /** Lines waiting in the queue, not yet in a batch. */
  queued: number;
  /** Lines in batches being written or spooled right now. */
  inFlight: number;
  /** writeReadings calls waiting for queue space. */
  waitingCalls: number;
  /** Lines in the spool waiting to be resent. */
  spoolLines: number;
  spoolBytes: number;
  /** Failed HTTP writes and failed spool appends. */
  writeErrors: number;
  serverUp: boolean;
}

export interface InfluxStore extends Store {
  readonly kind: 'influx';
  stats(): InfluxStoreStats;
}

/** Series queries need InfluxDB's own query engine; Grafana and Flux read the bucket directly. */
export class QueryNotSupportedError extends Error {
  readonly statusCode = 501;
  readonly code = 'not_implemented';
  constructor(what: string) {
    super(`${what} is not supported by the influx store; query InfluxDB (Flux) or Grafana directly`);
    this.name = 'QueryNotSupportedError';
  }
}

const MARKER_FILE = 'applied-wal-marker.json';
const DEAD_LETTER_FILE = 'dead-letters.jsonl';
const REJECTED_FILE = 'rejected.lp';
const SPOOL_SUBDIR = 'spool';

const noopLog: StoreLog = { info() {}, warn() {}, error() {} };

/** A writeReadings call: settles when all its lines are written, spooled or refused. */
class Call {
  outstanding: number;
  error: Error | undefined;
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (err: Error) => void;

  constructor(lines: number) {
    this.outstanding = lines;
    this.done = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    if (lines === 0) this.resolve();
  }

  settle(lines: number, err?: Error): void {
    if (err) this.error ??= err;
    this.outstanding -= lines;
    if (this.outstanding === 0) {
      if (this.error) this.reject(this.error);
      else this.resolve();
    }
  }
}

/** Part of a call's readings waiting in the queue; formatted only when it joins a batch. */
interface Slice {
  readings: readonly Reading[];
  start: number;
  end: number;
  call: Call;
}

interface Batch {
  /** Line protocol, one line per reading. */
  body: string;
  lines: number;
  parts: Array<{ call: Call; lines: number }>;
}

/** Wakes sleepers; a wait may also end after a timeout. */
class Signal {
  private waiters: Array<() => void> = [];
  wait(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(done);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve();
        }, timeoutMs);
      }
    });
  }
  notify(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1) throw new TypeError(`openInfluxStore: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

function nonNegative(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError(`openInfluxStore: ${name} must be a number >= 0, got ${String(v)}`);
  return v;
}

function compareMarkers(a: WalMarker, b: WalMarker): number {
  return a.segment - b.segment || a.batch - b.batch;
}

function instruments(registry: Registry | undefined) {
  // Reopening a store on the same registry reuses its instruments instead of failing on duplicate names.
  const counter = (name: string, help: string): Counter => {
    const existing = registry?.getSingleMetric(name);
    return (existing as Counter | undefined) ?? new Counter({ name, help, registers: registry ? [registry] : [] });
  };
  const gauge = (name: string, help: string): Gauge => {
    const existing = registry?.getSingleMetric(name);
    return (existing as Gauge | undefined) ?? new Gauge({ name, help, registers: registry ? [registry] : [] });
  };
  return {
    written: counter('querstrom_influx_lines_written_total', 'Lines InfluxDB accepted on the first try'),
    spooled: counter('querstrom_influx_lines_spooled_total', 'Lines written to the disk spool because InfluxDB did not accept them'),
    resent: counter('querstrom_influx_lines_resent_total', 'Spooled lines InfluxDB accepted later'),
    rejected: counter('querstrom_influx_lines_rejected_total', 'Lines InfluxDB refused as invalid (kept in rejected.lp)'),
    errors: counter('querstrom_influx_write_errors_total', 'Failed InfluxDB writes and failed spool appends'),
    spoolBytes: gauge('querstrom_influx_spool_bytes', 'Bytes in the InfluxDB disk spool'),
    queueLines: gauge('querstrom_influx_queue_lines', 'Lines waiting in the InfluxDB write queue'),
    up: gauge('querstrom_influx_up', '1 while InfluxDB accepts writes, 0 while writes are spooled'),
  };
}

class InfluxStoreImpl implements InfluxStore {
  readonly kind = 'influx' as const;

  private readonly log: StoreLog;
  private readonly m: ReturnType<typeof instruments>;
  private readonly sender: BatchSender;
  private readonly formatter = new LineFormatter();
  private readonly maxQueueLines: number;
  private readonly batchLines: number;
  private readonly flushIntervalMs: number;
  private readonly concurrency: number;
  private readonly probeMinMs: number;
  private readonly probeMaxMs: number;
  private readonly maxSpoolBytes: number;

  private spool!: Spool;
  private deadLetterFile!: DeadLetterFile;
  private marker: WalMarker | undefined;

  private readonly queue: Slice[] = [];
  private queueHead = 0;
  private queuedLines = 0;
  private inFlightLines = 0;
  private activeBatches = 0;
  private waitingCalls = 0;
  private enqueueTail: Promise<void> = Promise.resolve();
  private markerTail: Promise<void> = Promise.resolve();
  private spaceFreed: (() => void) | undefined;
  private idleWaiters: Array<() => void> = [];
  private lingerTimer: NodeJS.Timeout | undefined;
  private lingerDue = false;

  private serverUp = true;
  private readonly spoolSignal = new Signal();
  private readonly stopSignal = new Signal();
  private resender: Promise<void> = Promise.resolve();
  private spoolBroken: Error | undefined;
  /** The last spool append failed for lack of room (cleared by the next success or resend). */
  private spoolFull = false;
  private closing = false;
  private closePromise: Promise<void> | undefined;

  private readonly counts = { written: 0, spooled: 0, resent: 0, failed: 0, writeErrors: 0 };

  constructor(private readonly opts: InfluxStoreOptions) {
    for (const key of ['url', 'org', 'bucket', 'spoolDir'] as const) {
      if (typeof opts?.[key] !== 'string' || opts[key] === '') throw new TypeError(`openInfluxStore needs a non-empty ${key}`);
    }
    if (typeof opts.token !== 'string') throw new TypeError('openInfluxStore needs a token (a string; may be empty for servers without auth)');
    if (!/^https?:\/\//.test(opts.url)) throw new TypeError(`openInfluxStore: url must start with http:// or https://, got "${opts.url}"`);
    this.log = opts.log ?? noopLog;
    this.maxQueueLines = positiveInt('maxQueueLines', opts.maxQueueLines, 100_000);
    this.batchLines = positiveInt('batchLines', opts.batchLines, 5_000);
    this.concurrency = positiveInt('concurrency', opts.concurrency, 2);
    this.flushIntervalMs = nonNegative('flushIntervalMs', opts.flushIntervalMs, 5);
    this.probeMinMs = positiveInt('probeMinMs', opts.probeMinMs, 250);
    this.probeMaxMs = Math.max(this.probeMinMs, positiveInt('probeMaxMs', opts.probeMaxMs, 5_000));
    this.maxSpoolBytes = positiveInt('maxSpoolBytes', opts.maxSpoolBytes, 8 * 1024 ** 3);
    this.m = instruments(opts.metrics);
    this.sender = new BatchSender({
      url: opts.url,
      token: opts.token,
      org: opts.org,
      bucket: opts.bucket,
      timeoutMs: positiveInt('timeoutMs', opts.timeoutMs, 10_000),
      gzipThreshold: nonNegative('gzipThreshold', opts.gzipThreshold, 0),
    });
  }

  async init(): Promise<void> {
    const dir = this.opts.spoolDir;
    await mkdir(dir, { recursive: true });
    this.marker = await readMarker(join(dir, MARKER_FILE));
    this.deadLetterFile = await DeadLetterFile.open(join(dir, DEAD_LETTER_FILE), positiveInt('maxDeadLetters', this.opts.maxDeadLetters, 100_000), this.log);
    const { spool, recovered } = await Spool.open({
      dir: join(dir, SPOOL_SUBDIR),
      segmentBytes: positiveInt('spoolSegmentBytes', this.opts.spoolSegmentBytes, 64 * 1024 ** 2),
      maxBytes: this.maxSpoolBytes,
      log: this.log,
      onBytes: (bytes) => this.m.spoolBytes.set(bytes),
    });
    this.spool = spool;
    if (recovered.batches > 0) this.log.info({ ...recovered, spoolDir: dir }, 'influx spool holds batches from an earlier run; resending them');
    this.m.up.set(1);
    this.m.queueLines.set(0);
    this.resender = this.resendLoop();
  }

  stats(): InfluxStoreStats {
    return {
      ...this.counts,
      queued: this.queuedLines,
      inFlight: this.inFlightLines,
      waitingCalls: this.waitingCalls,
      spoolLines: this.spool.pendingLines,
      spoolBytes: this.spool.bytes,
      serverUp: this.serverUp,
    };
  }

  /** `readings` is read until the promise settles: do not change the array before that. */
  writeReadings(readings: readonly Reading[], walMarker?: WalMarker): Promise<void> {
    if (this.closing) return Promise.reject(new Error('influx store is closed'));
    if (!Array.isArray(readings)) return Promise.reject(new TypeError('writeReadings needs an array of readings'));
    if (walMarker && !(Number.isSafeInteger(walMarker.segment) && Number.isSafeInteger(walMarker.batch))) {
      return Promise.reject(new TypeError('walMarker needs integer segment and batch'));
    }
    try {
      this.formatter.validate(readings);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const call = new Call(readings.length);
    if (readings.length > 0) {
      this.waitingCalls++;
      // Calls enqueue strictly one after another, so a big call cannot be overtaken and starve.
      this.enqueueTail = this.enqueueTail.then(() => this.enqueue(readings, call)).finally(() => this.waitingCalls--);
    }
    // Markers are recorded in call order, and only for calls whose lines are all safe.
    const prev = this.markerTail;
    const result = call.done.then(async () => {
      await prev;
      if (walMarker) await this.recordMarker(walMarker);
    });
    this.markerTail = result.catch(() => undefined);
    return result;
  }

  async writeDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    if (this.closing) throw new Error('influx store is closed');
    await this.deadLetterFile.append(letters);
  }

  async queryRange(_q: RangeQuery): Promise<Reading[]> {
    throw new QueryNotSupportedError('queryRange');
  }

  async queryAggregate(_q: AggregateQuery): Promise<AggregateBucket[]> {
    throw new QueryNotSupportedError('queryAggregate');
  }

  async latest(_q: LatestQuery): Promise<Reading[]> {
    throw new QueryNotSupportedError('latest');
  }

  async deadLetters(q: DeadLetterQuery): Promise<DeadLetter[]> {
    return this.deadLetterFile.query(q);
  }

  /** Reading retention is the bucket's retention policy in InfluxDB; here only local dead letters age out. */
  async applyRetention(olderThan: number): Promise<number> {
    if (!Number.isFinite(olderThan)) throw new TypeError('olderThan must be epoch milliseconds');
    return this.deadLetterFile.removeOlderThan(olderThan);
  }

  async appliedWalMarkers(): Promise<WalMarker[]> {
    return this.marker ? [{ ...this.marker }] : [];
  }

  /** Accepting writes: the server takes them, or the spool has room. */
  async healthy(): Promise<boolean> {
    if (this.closing || this.spoolBroken) return false;
    return this.serverUp || !this.spoolFull;
  }

  /** Waits until every accepted call is written or spooled; the spool itself stays for the next run. */
  close(): Promise<void> {
    return (this.closePromise ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    await this.enqueueTail;
    this.pump();
    if (this.queuedLines > 0 || this.activeBatches > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    await this.markerTail;
    this.spoolSignal.notify();
    this.stopSignal.notify();
    await this.resender;
    await this.spool.close();
    await this.deadLetterFile.close();
  }

  // ---------------------------------------------------------------- queue

  /** Never rejects: a failure settles the call, so later calls still get their turn. */
  private async enqueue(readings: readonly Reading[], call: Call): Promise<void> {
    let pos = 0;
    try {
      while (pos < readings.length) {
        const space = this.maxQueueLines - this.queuedLines;
        if (space <= 0) {
          await new Promise<void>((r) => (this.spaceFreed = r));
          continue;
        }
        const n = Math.min(space, readings.length - pos);
        this.queue.push({ readings, start: pos, end: pos + n, call });
        this.queuedLines += n;
        pos += n;
        this.m.queueLines.set(this.queuedLines);
        this.pump();
      }
    } catch (err) {
      call.settle(readings.length - pos, err as Error);
    }
  }

  private pump(): void {
    while (this.activeBatches < this.concurrency && this.queuedLines > 0) {
      const partial = this.queuedLines < this.batchLines;
      if (partial && this.activeBatches > 0 && this.flushIntervalMs > 0 && !this.lingerDue && !this.closing) {
        this.lingerTimer ??= setTimeout(() => {
          this.lingerTimer = undefined;
          this.lingerDue = true;
          this.pump();
        }, this.flushIntervalMs);
        return;
      }
      if (this.lingerTimer) clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
      this.lingerDue = false;
      const batch = this.takeBatch();
      this.activeBatches++;
      this.inFlightLines += batch.lines;
      void this.runBatch(batch).finally(() => {
        this.activeBatches--;
        this.inFlightLines -= batch.lines;
        this.pump();
        if (this.activeBatches === 0 && this.queuedLines === 0) {
          const ws = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of ws) w();
        }
      });
    }
  }

  private takeBatch(): Batch {
    const batch: Batch = { body: '', lines: 0, parts: [] };
    while (batch.lines < this.batchLines && this.queueHead < this.queue.length) {
      const s = this.queue[this.queueHead]!;
      const n = Math.min(s.end - s.start, this.batchLines - batch.lines);
      const body = this.formatter.body(s.readings, s.start, s.start + n);
      batch.body = batch.lines === 0 ? body : batch.body + '\n' + body;
      batch.lines += n;
      batch.parts.push({ call: s.call, lines: n });
      s.start += n;
      if (s.start === s.end) this.queue[this.queueHead++] = undefined as unknown as Slice;
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    this.queuedLines -= batch.lines;
    this.m.queueLines.set(this.queuedLines);
    const wake = this.spaceFreed;
    this.spaceFreed = undefined;
    wake?.();
    return batch;
  }

  private settle(batch: Batch, err?: Error): void {
    for (const p of batch.parts) p.call.settle(p.lines, err);
  }

  // ---------------------------------------------------------------- write path

  private async runBatch(batch: Batch): Promise<void> {
    try {
      await this.writeOrSpool(batch);
    } catch (err) {
      // Not expected (every path settles its own failures), but a batch must never hang its calls.
      this.countError();
      this.log.error({ err, lines: batch.lines }, 'influx batch failed unexpectedly; the WAL keeps these readings');
      this.settle(batch, err as Error);
    }
  }

  private async writeOrSpool(batch: Batch): Promise<void> {
    const n = batch.lines;
    // While the server is down, batches queue behind the spool; with nothing spooled there is
    // no order to keep, so try the server (e.g. the spool disk was full and the server is back).
    if (this.serverUp || this.spool.pendingBatches === 0) {
      const outcome = await this.sender.send(batch.body);
      if (outcome.ok) {
        this.counts.written += n;
        this.m.written.inc(n);
        this.settle(batch);
        return;
      }
      this.countError();
      if (!outcome.retry) {
        await this.refuse(batch.body, n, outcome).then(
          () => this.settle(batch),
          (err: Error) => this.settle(batch, err),
        );
        return;
      }
      this.markDown(outcome);
    }
    try {
      await this.spool.append(batch.body, n);
    } catch (err) {
      this.countError();
      if (err instanceof SpoolFullError) this.spoolFull = true;
      this.log.error({ err, lines: n }, 'influx spool append failed; the WAL keeps these readings');
      this.settle(batch, err as Error);
      return;
    }
    this.spoolFull = false;
    this.counts.spooled += n;
    this.m.spooled.inc(n);
    this.spoolSignal.notify();
    this.settle(batch);
  }

  /** Lines the server refuses as invalid are kept for an operator, never retried. */
  private async refuse(body: string, lines: number, outcome: Exclude<SendOutcome, { ok: true }>): Promise<void> {
    const reason = describeFailure(outcome);
    this.log.error({ lines, reason }, 'influx refused lines as invalid; kept in rejected.lp');
    const path = join(this.opts.spoolDir, REJECTED_FILE);
    await appendFile(path, `# ${new Date().toISOString()} ${reason.replace(/\n/g, ' ')}\n${body}\n`);
    const fh = await open(path, 'r+');
    try {
      await fh.datasync();
    } finally {
      await fh.close();
    }
    this.counts.failed += lines;
    this.m.rejected.inc(lines);
  }

  private countError(): void {
    this.counts.writeErrors++;
    this.m.errors.inc();
  }

  private markDown(outcome: Exclude<SendOutcome, { ok: true }>): void {
    if (!this.serverUp) return;
    this.serverUp = false;
    this.m.up.set(0);
    this.log.warn({ reason: describeFailure(outcome), url: this.opts.url }, 'influx not accepting writes; spooling to disk');
  }

  private markUp(): void {
    if (this.serverUp) return;
    this.serverUp = true;
    this.m.up.set(1);
    this.log.info({ url: this.opts.url, spoolLines: this.spool.pendingLines }, 'influx accepts writes again; draining the spool');
  }

  // ---------------------------------------------------------------- resend

  private async resendLoop(): Promise<void> {
    let delay = this.probeMinMs;
    let retrying = false;
    while (!this.closing) {
      const rec = this.spool.peek();
      if (!rec) {
        await this.spoolSignal.wait();
        continue;
      }
      if (!this.serverUp || retrying) {
        await this.stopSignal.wait(delay);
        if (this.closing) break;
      }
      let outcome: 'done' | 'retry' | 'broken';
      try {
        outcome = await this.resendOne(rec);
      } catch (err) {
        this.log.error({ err }, 'influx resend failed unexpectedly; retrying later');
        outcome = 'retry';
      }
      if (outcome === 'broken') return;
      retrying = outcome === 'retry';
      delay = retrying ? Math.min(delay * 2, this.probeMaxMs) : this.probeMinMs;
    }
  }

  /** Sends the oldest spooled batch; it is marked resent (fsynced) before anything else is sent. */
  private async resendOne(rec: SpoolRecord): Promise<'done' | 'retry' | 'broken'> {
    let body: string;
    try {
      body = await this.spool.read(rec);
    } catch (err) {
      if (!(err instanceof SpoolCorruptError)) throw err;
      this.log.error({ err, lines: rec.lines }, 'influx spool frame unreadable; skipping it');
      this.counts.failed += rec.lines;
      return (await this.mark(rec)) ? 'done' : 'broken';
    }
    const outcome = await this.sender.send(body);
    if (outcome.ok) {
      if (!(await this.mark(rec))) return 'broken';
      this.spoolFull = false;
      this.counts.resent += rec.lines;
      this.m.resent.inc(rec.lines);
      this.markUp();
      return 'done';
    }
    this.countError();
    if (!outcome.retry) {
      try {
        await this.refuse(body, rec.lines, outcome);
      } catch (err) {
        this.log.error({ err }, 'cannot keep refused lines; retrying the batch later');
        return 'retry';
      }
      return (await this.mark(rec)) ? 'done' : 'broken';
    }
    this.markDown(outcome);
    return 'retry';
  }

  private async mark(rec: SpoolRecord): Promise<boolean> {
    try {
      await this.spool.markResent(rec);
      return true;
    } catch (err) {
      // Without a durable mark a restart would send the batch again: stop resending and say so.
      this.spoolBroken = err as Error;
      this.log.error({ err }, 'cannot mark a spooled batch as resent; resending stopped, store reports unhealthy');
      return false;
    }
  }

  private async recordMarker(m: WalMarker): Promise<void> {
    if (this.marker && compareMarkers(m, this.marker) <= 0) return;
    await writeFileAtomic(join(this.opts.spoolDir, MARKER_FILE), JSON.stringify({ segment: m.segment, batch: m.batch }) + '\n');
    this.marker = { segment: m.segment, batch: m.batch };
  }
}

async function readMarker(path: string): Promise<WalMarker | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const v = JSON.parse(text) as Partial<WalMarker>;
  if (!Number.isSafeInteger(v.segment) || !Number.isSafeInteger(v.batch)) throw new Error(`${path} does not hold a WAL marker: ${text.slice(0, 100)}`);
  return { segment: v.segment!, batch: v.batch! };
}

/** Opens the influx store; resending of anything left in the spool starts at once. */
export async function openInfluxStore(opts: InfluxStoreOptions): Promise<InfluxStore> {
  const store = new InfluxStoreImpl(opts);
  await store.init();
  return store;
}
