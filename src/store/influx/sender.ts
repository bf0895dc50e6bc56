/**
 * Sends one batch of line protocol through @influxdata/influxdb-client and reports exactly
 * what happened to it.
 *
 * The client's own flush()/close() can resolve although every line was lost (a 404 from a
 * wrong bucket or path is "not retryable", its error is only logged, and closed write APIs
 * silently drop data). So the outcome is decided by the writeSuccess / writeFailed /
 * writeRetrySkipped hooks alone: a batch counts as written only if writeSuccess reported
 * every one of its lines. The client never retries (maxRetries 0); the disk spool does.
 */
import { HttpError, InfluxDB, type WriteApi } from '@influxdata/influxdb-client';

export type SendOutcome =
  | { ok: true }
  /** Server unreachable, 5xx, 429, 401/403/404 (configuration): keep the lines and retry later. */
  | { ok: false; retry: true; error: Error; status?: number }
  /** The server refused the data itself (400, 413, 422): retrying the same bytes cannot help. */
  | { ok: false; retry: false; error: Error; status: number };

const PERMANENT_STATUSES = new Set([400, 413, 422]);

export interface InfluxTarget {
  url: string;
  token: string;
  org: string;
  bucket: string;
  /** Socket timeout per request. */
  timeoutMs: number;
  /** Compress bodies above this many bytes; 0 disables. */
  gzipThreshold: number;
}

export class BatchSender {
  private readonly influx: InfluxDB;

  constructor(private readonly target: InfluxTarget) {
    this.influx = new InfluxDB({ url: target.url, token: target.token, timeout: target.timeoutMs });
  }

  /** Sends one request body (line protocol, '\n'-separated) as a single record of the write API. */
  async send(body: string): Promise<SendOutcome> {
    if (body === '') return { ok: true };
    let confirmed = 0;
    let failure: Error | undefined;
    const noteFailure = (err: Error) => {
      failure ??= err;
    };
    // One write API per batch, holding exactly one record (the whole body): every hook call belongs to it.
    const api: WriteApi = this.influx.getWriteApi(this.target.org, this.target.bucket, 'ms', {
      batchSize: 2,
      maxBatchBytes: Number.POSITIVE_INFINITY,
      flushInterval: 0,
      maxRetries: 0,
      maxBufferLines: 2,
      gzipThreshold: this.target.gzipThreshold > 0 ? this.target.gzipThreshold : Number.POSITIVE_INFINITY,
      writeSuccess(sent) {
        confirmed += sent.length;
      },
      writeFailed(error) {
        noteFailure(error);
        // Returning a promise makes it the flush result and keeps the client from logging/retrying.
        return Promise.resolve();
      },
      writeRetrySkipped(entry) {
        noteFailure(new Error(`influx client dropped ${entry.lines.length} records from its retry buffer`));
      },
    });
    try {
      api.writeRecord(body);
      await api.flush();
    } catch (err) {
      noteFailure(err as Error);
    } finally {
      api.dispose();
    }
    if (!failure && confirmed === 1) return { ok: true };
    const error = failure ?? new Error(`influx client confirmed ${confirmed} of 1 records`);
    const status = error instanceof HttpError ? error.statusCode : undefined;
    if (status !== undefined && PERMANENT_STATUSES.has(status)) return { ok: false, retry: false, error, status };
    return status === undefined ? { ok: false, retry: true, error } : { ok: false, retry: true, error, status };
  }
}

/** Short, log-friendly description of a failed send. */
export function describeFailure(outcome: Exclude<SendOutcome, { ok: true }>): string {
  const body = outcome.error instanceof HttpError && outcome.error.body ? `: ${outcome.error.body.slice(0, 200)}` : '';
  return `${outcome.status !== undefined ? `HTTP ${outcome.status} ` : ''}${outcome.error.message}${body}`;
}
