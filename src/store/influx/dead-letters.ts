/**
 * Dead letters of the influx store: few and small, so they stay local in a JSON-lines file
 * (fsynced on every write) with an in-memory copy for queries. InfluxDB is a poor fit for
 * free-text reasons and excerpts, and the gateway engineer's view needs them quickly.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import type { DeadLetter, DeadLetterQuery } from '../types.ts';
import { writeFileAtomic } from './durable-fs.ts';

export const DEAD_LETTER_LIMIT_DEFAULT = 100;
export const DEAD_LETTER_LIMIT_MAX = 10_000;

function toLine(l: DeadLetter): string {
  return JSON.stringify({ tenant: l.tenant, device: l.device, topic: l.topic, receivedAt: l.receivedAt, reason: l.reason, excerpt: l.excerpt }) + '\n';
}

function isDeadLetter(v: unknown): v is DeadLetter {
  const o = v as Record<string, unknown>;
  return !!o && typeof o.tenant === 'string' && typeof o.device === 'string' && typeof o.topic === 'string' && typeof o.receivedAt === 'number' && typeof o.reason === 'string' && typeof o.excerpt === 'string';
}

export class DeadLetterFile {
  private constructor(
    private readonly path: string,
    private fh: FileHandle,
    /** Oldest first, in write order. */
    private letters: DeadLetter[],
    /** Most letters kept; the oldest go first beyond this. */
    private readonly maxLetters: number,
  ) {}

  static async open(path: string, maxLetters: number, log: { warn(o: object, m?: string): void }): Promise<DeadLetterFile> {
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const letters: DeadLetter[] = [];
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const v: unknown = JSON.parse(line);
        if (isDeadLetter(v)) letters.push(v);
        else skipped++;
      } catch {
        skipped++; // a torn last line after a crash
      }
    }
    if (skipped > 0) log.warn({ path, skipped }, 'influx store: skipped unreadable dead-letter lines');
    const kept = letters.length > maxLetters ? letters.slice(letters.length - maxLetters) : letters;
    // Rewrite when anything was dropped, so appends never follow a torn line.
    if (skipped > 0 || kept.length !== letters.length) await writeFileAtomic(path, kept.map(toLine).join(''));
    const fh = await open(path, 'a');
    return new DeadLetterFile(path, fh, kept, maxLetters);
  }

  async append(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    for (const l of letters) if (!isDeadLetter(l)) throw new TypeError('dead letter needs string tenant, device, topic, reason, excerpt and numeric receivedAt');
    await this.fh.write(letters.map(toLine).join(''));
    await this.fh.datasync();
    for (const l of letters) this.letters.push({ ...l });
    if (this.letters.length > 2 * this.maxLetters) await this.rewrite(this.letters.slice(this.letters.length - this.maxLetters));
  }

  /** Newest first, like the embedded store. */
  query(q: DeadLetterQuery): DeadLetter[] {
    if (typeof q.tenant !== 'string' || q.tenant === '') throw new TypeError('deadLetters needs a tenant');
    const limit = q.limit === undefined ? DEAD_LETTER_LIMIT_DEFAULT : q.limit;
    if (!Number.isInteger(limit) || limit < 1 || limit > DEAD_LETTER_LIMIT_MAX) throw new RangeError(`limit must be an integer 1..${DEAD_LETTER_LIMIT_MAX}`);
    const matches = this.letters.filter((l) => l.tenant === q.tenant && (q.device === undefined || l.device === q.device) && (q.since === undefined || l.receivedAt >= q.since));
    matches.sort((a, b) => b.receivedAt - a.receivedAt);
    return matches.slice(0, limit).map((l) => ({ ...l }));
  }

  /** Removes letters received before `olderThan`; returns how many. */
  async removeOlderThan(olderThan: number): Promise<number> {
    const kept = this.letters.filter((l) => l.receivedAt >= olderThan);
    const removed = this.letters.length - kept.length;
    if (removed > 0) await this.rewrite(kept);
    return removed;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  private async rewrite(kept: DeadLetter[]): Promise<void> {
    await this.fh.close();
    try {
      await writeFileAtomic(this.path, kept.map(toLine).join(''));
      this.letters = kept;
    } finally {
      this.fh = await open(this.path, 'a');
    }
  }
}
