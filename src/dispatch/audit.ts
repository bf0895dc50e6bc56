/**
 * The audit trail of one tenant: append-only JSON lines, one file per UTC day,
 * `{dataDir}/audit/{tenant}/YYYY-MM-DD.jsonl`. Plain files in an open format, so auditors read
 * them with any tool. Lines are buffered for a moment and appended in order; a failed write
 * keeps its lines for the next attempt (bounded), so a full disk loses nothing it can recover.
 * With a retention, day files older than it are deleted once a day, after a write.
 */
import { appendFile, mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.ts';
import { auditEntrySchema, type AuditEntry, type AuditEntryType } from './schemas.ts';

const FILE = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;
const FLUSH_DELAY_MS = 100;
const MAX_BUFFERED_LINES = 100_000;

export const dayOf = (ts: number): string => new Date(ts).toISOString().slice(0, 10);

export interface AuditQuery {
  since?: number | undefined;
  limit: number;
  type?: AuditEntryType | undefined;
}

export class AuditTrail {
  private buffer: Array<{ day: string; line: string }> = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private dirReady = false;
  private dropped = 0;
  private lastErrorLogAt = 0;
  /** The day retention last ran. */
  private prunedOn: string | undefined;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    /** Whole days kept; 0 keeps everything. */
    private readonly retentionDays = 0,
    private readonly now: () => number = Date.now,
  ) {}

  append(entry: AuditEntry): void {
    if (this.buffer.length >= MAX_BUFFERED_LINES) {
      this.dropped++;
      return;
    }
    this.buffer.push({ day: dayOf(entry.ts), line: JSON.stringify(entry) + '\n' });
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_DELAY_MS);
  }

  /** Writes everything appended so far; resolves when it is in the files (or the write failed). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(() => this.writeBuffered());
    return this.writing;
  }

  private async writeBuffered(): Promise<void> {
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    try {
      if (!this.dirReady) {
        await mkdir(this.dir, { recursive: true });
        this.dirReady = true;
      }
      // Consecutive lines of the same day go out in one write, in order.
      let i = 0;
      while (i < batch.length) {
        const day = batch[i]!.day;
        let text = '';
        let j = i;
        for (; j < batch.length && batch[j]!.day === day; j++) text += batch[j]!.line;
        await appendFile(join(this.dir, `${day}.jsonl`), text);
        i = j;
      }
      if (this.dropped > 0) {
        this.log.error({ dropped: this.dropped, dir: this.dir }, 'audit lines were dropped while the trail could not be written');
        this.dropped = 0;
      }
      const today = dayOf(this.now());
      if (this.retentionDays > 0 && this.prunedOn !== today) {
        this.prunedOn = today;
        await this.prune().catch((err: unknown) => this.log.warn({ err, dir: this.dir }, 'audit retention failed; retrying tomorrow'));
      }
    } catch (err) {
      // Keep them (in order, ahead of newer lines) for the next attempt.
      this.buffer = batch.concat(this.buffer).slice(0, MAX_BUFFERED_LINES);
      const now = Date.now();
      if (now - this.lastErrorLogAt > 10_000) {
        this.lastErrorLogAt = now;
        this.log.error({ err, dir: this.dir }, 'cannot write the audit trail; retrying');
      }
      this.timer ??= setTimeout(() => void this.flush(), 1000);
    }
  }

  /** Deletes the day files wholly older than the retention; returns the days deleted. */
  async prune(): Promise<string[]> {
    if (this.retentionDays <= 0) return [];
    const keepFrom = dayOf(this.now() - this.retentionDays * 86_400_000);
    const gone: string[] = [];
    for (const f of await readdir(this.dir)) {
      const day = FILE.exec(f)?.[1];
      if (day === undefined || day >= keepFrom) continue;
      await unlink(join(this.dir, f));
      gone.push(day);
    }
    if (gone.length > 0) this.log.info({ dir: this.dir, days: gone.length, keepFrom }, 'audit days past the retention deleted');
    return gone.sort();
  }

  /** Entries newest first, at or after `since`, at most `limit`. */
  async read(q: AuditQuery): Promise<AuditEntry[]> {
    await this.flush();
    let files: string[];
    try {
      files = (await readdir(this.dir)).filter((f) => FILE.test(f)).sort().reverse();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const sinceDay = q.since !== undefined ? dayOf(Math.max(0, q.since)) : undefined;
    const out: AuditEntry[] = [];
    for (const f of files) {
      if (sinceDay !== undefined && f.slice(0, 10) < sinceDay) break;
      const lines = (await readFile(join(this.dir, f), 'utf8')).split('\n');
      for (let i = lines.length - 1; i >= 0 && out.length < q.limit; i--) {
        const line = lines[i]!;
        if (line === '') continue;
        let json: unknown;
        try {
          json = JSON.parse(line);
        } catch {
          continue; // a line cut by a crash mid-write
        }
        const parsed = auditEntrySchema.safeParse(json);
        if (!parsed.success) continue;
        const e = parsed.data;
        if (q.since !== undefined && e.ts < q.since) continue;
        if (q.type !== undefined && e.type !== q.type) continue;
        out.push(e);
      }
      if (out.length >= q.limit) break;
    }
    // Lines are in append order; ticks and acks may interleave slightly, so order by time.
    return out.sort((a, b) => b.ts - a.ts);
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
