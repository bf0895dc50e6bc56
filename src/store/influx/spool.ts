/**
 * Disk spool for batches the server did not accept. Append-only segment files; each batch is
 * one frame, fsynced before append() resolves:
 *
 *   u32 magic 'QSP1' | u32 payloadBytes | u32 lineCount | u32 crc32(payload) | u8 state | 3 x u8 0 | payload
 *
 * payload is the batch's line protocol, one line per reading, '\n'-separated. `state` is 0 while the batch waits and
 * is set to 1 (in place, fsynced) right after the server accepted its resend, so a restart
 * never sends it again. A frame that is short or fails its CRC can only be a torn tail from a
 * crash before its fsync (never acknowledged), so the segment is truncated there. A segment
 * whose batches were all resent is deleted.
 */
import { mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncDir } from './durable-fs.ts';
import { countLines } from './line-protocol.ts';

const MAGIC = 0x31505351; // 'QSP1' little-endian
const HEADER_BYTES = 20;
const STATE_OFFSET = 16;
const STATE_PENDING = 0;
const STATE_RESENT = 1;
const SEGMENT_NAME = /^(\d{12})\.seg$/;

export interface SpoolLog {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface SpoolOptions {
  dir: string;
  /** A new segment is started once the current one reaches this size. */
  segmentBytes: number;
  /** append() rejects with SpoolFullError beyond this many bytes on disk. */
  maxBytes: number;
  log: SpoolLog;
  /** Called whenever the bytes on disk change. */
  onBytes?: (bytes: number) => void;
}

export class SpoolFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpoolFullError';
  }
}

export class SpoolCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpoolCorruptError';
  }
}

export interface SpoolRecord {
  readonly segment: Segment;
  readonly offset: number;
  readonly payloadBytes: number;
  readonly lines: number;
}

interface Segment {
  id: number;
  path: string;
  fh: FileHandle;
  size: number;
  pending: number;
}

interface Waiting {
  frame: Buffer;
  lines: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface SpoolRecovery {
  batches: number;
  lines: number;
  /** Bytes cut off torn segment tails. */
  truncatedBytes: number;
}

class SerialLock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

function segmentPath(dir: string, id: number): string {
  return join(dir, `${String(id).padStart(12, '0')}.seg`);
}

export class Spool {
  private readonly lock = new SerialLock();
  private readonly segments: Segment[] = [];
  private active: Segment | undefined;
  private nextId = 1;
  private readonly queue: SpoolRecord[] = [];
  private head = 0;
  private waiting: Waiting[] = [];
  private waitingBytes = 0;
  private flushing = false;
  private diskBytes = 0;
  private pendingLineCount = 0;
  private closed = false;

  private constructor(private readonly opts: SpoolOptions) {}

  static async open(opts: SpoolOptions): Promise<{ spool: Spool; recovered: SpoolRecovery }> {
    const spool = new Spool(opts);
    const recovered = await spool.recover();
    return { spool, recovered };
  }

  /** Bytes of spool segments on disk (including resent batches of segments not yet deleted). */
  get bytes(): number {
    return this.diskBytes;
  }

  /** Batches waiting to be resent. */
  get pendingBatches(): number {
    return this.queue.length - this.head;
  }

  get pendingLines(): number {
    return this.pendingLineCount;
  }

  /** The oldest batch waiting to be resent. */
  peek(): SpoolRecord | undefined {
    return this.queue[this.head];
  }

  /** Resolves once the batch is fsynced; batches arriving meanwhile share the next fsync. */
  append(body: string, lines: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('spool is closed'));
    if (lines === 0) return Promise.resolve();
    const payload = Buffer.from(body, 'utf8');
    const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
    frame.writeUInt32LE(MAGIC, 0);
    frame.writeUInt32LE(payload.length, 4);
    frame.writeUInt32LE(lines, 8);
    frame.writeUInt32LE(crc32(payload), 12);
    frame.fill(0, STATE_OFFSET, HEADER_BYTES);
    payload.copy(frame, HEADER_BYTES);
    if (this.diskBytes + this.waitingBytes + frame.length > this.opts.maxBytes) {
      return Promise.reject(new SpoolFullError(`influx spool is full: ${this.diskBytes + this.waitingBytes} of ${this.opts.maxBytes} bytes used in ${this.opts.dir}`));
    }
    this.waitingBytes += frame.length;
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ frame, lines, resolve, reject });
      if (!this.flushing) void this.flushWaiting();
    });
  }

  /** The batch's body, CRC-checked. */
  async read(rec: SpoolRecord): Promise<string> {
    const buf = Buffer.allocUnsafe(rec.payloadBytes);
    const { bytesRead } = await rec.segment.fh.read(buf, 0, rec.payloadBytes, rec.offset + HEADER_BYTES);
    if (bytesRead !== rec.payloadBytes) throw new SpoolCorruptError(`spool segment ${rec.segment.path} is shorter than expected at offset ${rec.offset}`);
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    await rec.segment.fh.read(header, 0, HEADER_BYTES, rec.offset);
    if (crc32(buf) !== header.readUInt32LE(12)) throw new SpoolCorruptError(`spool segment ${rec.segment.path}: CRC mismatch at offset ${rec.offset}`);
    const body = buf.toString('utf8');
    const lines = countLines(body);
    if (lines !== rec.lines) throw new SpoolCorruptError(`spool segment ${rec.segment.path}: ${lines} lines at offset ${rec.offset}, header says ${rec.lines}`);
    return body;
  }

  /** Records that the oldest pending batch was accepted by the server (fsynced), so it is never sent again. */
  markResent(rec: SpoolRecord): Promise<void> {
    return this.lock.run(async () => {
      if (this.queue[this.head] !== rec) throw new Error('spool batches must be resent in order');
      const seg = rec.segment;
      await seg.fh.write(Buffer.of(STATE_RESENT), 0, 1, rec.offset + STATE_OFFSET);
      await seg.fh.datasync();
      this.head++;
      this.pendingLineCount -= rec.lines;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      seg.pending--;
      if (seg.pending === 0) await this.removeSegment(seg);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lock.run(async () => {
      for (const seg of this.segments) await seg.fh.close();
    });
  }

  private async flushWaiting(): Promise<void> {
    this.flushing = true;
    try {
      while (this.waiting.length > 0) {
        const group = this.waiting;
        this.waiting = [];
        for (const w of group) this.waitingBytes -= w.frame.length;
        await this.lock.run(() => this.writeGroup(group)).catch((err: Error) => {
          for (const w of group) w.reject(err);
        });
      }
    } finally {
      this.flushing = false;
    }
  }

  private async writeGroup(group: Waiting[]): Promise<void> {
    if (this.closed) throw new Error('spool is closed');
    if (!this.active || this.active.size >= this.opts.segmentBytes) this.active = await this.createSegment();
    const seg = this.active;
    const start = seg.size;
    const total = group.reduce((n, w) => n + w.frame.length, 0);
    try {
      const { bytesWritten } = await seg.fh.writev(group.map((w) => w.frame), start);
      if (bytesWritten !== total) throw new Error(`short write to ${seg.path}: ${bytesWritten} of ${total} bytes`);
      await seg.fh.datasync();
    } catch (err) {
      // Leave no half-written frame behind for the next append to follow.
      await seg.fh.truncate(start).catch(() => undefined);
      throw new Error(`cannot write influx spool ${seg.path}: ${(err as Error).message}`, { cause: err });
    }
    let offset = start;
    for (const w of group) {
      this.queue.push({ segment: seg, offset, payloadBytes: w.frame.length - HEADER_BYTES, lines: w.lines });
      offset += w.frame.length;
      seg.pending++;
      this.pendingLineCount += w.lines;
    }
    seg.size = offset;
    this.diskBytes += total;
    this.opts.onBytes?.(this.diskBytes);
    for (const w of group) w.resolve();
  }

  private async createSegment(): Promise<Segment> {
    const id = this.nextId++;
    const path = segmentPath(this.opts.dir, id);
    const fh = await open(path, 'wx+');
    await fsyncDir(this.opts.dir);
    const seg: Segment = { id, path, fh, size: 0, pending: 0 };
    this.segments.push(seg);
    return seg;
  }

  private async removeSegment(seg: Segment): Promise<void> {
    await seg.fh.close();
    await unlink(seg.path);
    await fsyncDir(this.opts.dir);
    this.segments.splice(this.segments.indexOf(seg), 1);
    if (this.active === seg) this.active = undefined;
    this.diskBytes -= seg.size;
    this.opts.onBytes?.(this.diskBytes);
  }

  private async recover(): Promise<SpoolRecovery> {
    await mkdir(this.opts.dir, { recursive: true });
    const ids = (await readdir(this.opts.dir))
      .map((name) => SEGMENT_NAME.exec(name)?.[1])
      .filter((id): id is string => id !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const result: SpoolRecovery = { batches: 0, lines: 0, truncatedBytes: 0 };
    for (const id of ids) {
      this.nextId = Math.max(this.nextId, id + 1);
      const path = segmentPath(this.opts.dir, id);
      const fh = await open(path, 'r+');
      const seg: Segment = { id, path, fh, size: 0, pending: 0 };
      const fileBytes = (await fh.stat()).size;
      const header = Buffer.allocUnsafe(HEADER_BYTES);
      let pos = 0;
      let problem: string | undefined;
      while (pos < fileBytes) {
        if (fileBytes - pos < HEADER_BYTES) {
          problem = 'short frame header';
          break;
        }
        await fh.read(header, 0, HEADER_BYTES, pos);
        const payloadBytes = header.readUInt32LE(4);
        const lines = header.readUInt32LE(8);
        const state = header[STATE_OFFSET];
        if (header.readUInt32LE(0) !== MAGIC || (state !== STATE_PENDING && state !== STATE_RESENT)) {
          problem = 'bad frame header';
          break;
        }
        if (pos + HEADER_BYTES + payloadBytes > fileBytes) {
          problem = 'short frame payload';
          break;
        }
        const payload = Buffer.allocUnsafe(payloadBytes);
        await fh.read(payload, 0, payloadBytes, pos + HEADER_BYTES);
        if (crc32(payload) !== header.readUInt32LE(12)) {
          problem = 'CRC mismatch';
          break;
        }
        if (state === STATE_PENDING) {
          this.queue.push({ segment: seg, offset: pos, payloadBytes, lines });
          seg.pending++;
          this.pendingLineCount += lines;
          result.batches++;
          result.lines += lines;
        }
        pos += HEADER_BYTES + payloadBytes;
      }
      if (problem) {
        await fh.truncate(pos);
        await fh.datasync();
        result.truncatedBytes += fileBytes - pos;
        this.opts.log.warn({ segment: path, offset: pos, droppedBytes: fileBytes - pos, problem }, 'influx spool: cut a torn tail (never acknowledged)');
      }
      seg.size = pos;
      if (seg.pending === 0) {
        await fh.close();
        await unlink(path);
        continue;
      }
      this.segments.push(seg);
      this.diskBytes += pos;
    }
    if (ids.length > 0) await fsyncDir(this.opts.dir);
    this.opts.onBytes?.(this.diskBytes);
    return result;
  }
}
