/**
 * The store interface. The embedded DuckDB store implements all of it; the InfluxDB
 * writer (production) implements the write side and the queries it can serve.
 */

/** One normalised reading. Time is epoch milliseconds UTC; value is in the canonical unit. */
export interface Reading {
  tenant: string;
  /** `gateway` or `gateway/subdevice`. */
  device: string;
  metric: string;
  ts: number;
  value: number;
  unit: string;
}

export interface DeadLetter {
  tenant: string;
  device: string;
  topic: string;
  /** Epoch ms when the broker received the message. */
  receivedAt: number;
  /** Precise, human-readable reason (field path and rule). */
  reason: string;
  /** First bytes of the payload, as text with non-printables escaped. */
  excerpt: string;
}

export interface RangeQuery {
  tenant: string;
  device?: string;
  metric?: string;
  from: number;
  to: number;
  limit?: number;
}

export const aggregateFunctions = ['avg', 'min', 'max', 'last'] as const;
export type AggregateFunction = (typeof aggregateFunctions)[number];

export interface AggregateQuery {
  tenant: string;
  device: string;
  metric: string;
  from: number;
  to: number;
  bucketMs: number;
  fns: AggregateFunction[];
}

export interface AggregateBucket {
  /** Bucket start, epoch ms. */
  ts: number;
  count: number;
  avg?: number;
  min?: number;
  max?: number;
  last?: number;
}

export interface LatestQuery {
  tenant: string;
  device?: string;
  metric?: string;
}

export interface DeadLetterQuery {
  tenant: string;
  device?: string;
  since?: number;
  limit?: number;
}

export interface Store {
  readonly kind: 'duckdb' | 'influx';
  /** Writes readings and, in the same commit, the marker of the WAL segment they came from. */
  writeReadings(readings: readonly Reading[], walMarker?: WalMarker): Promise<void>;
  writeDeadLetters(letters: readonly DeadLetter[]): Promise<void>;
  queryRange(q: RangeQuery): Promise<Reading[]>;
  queryAggregate(q: AggregateQuery): Promise<AggregateBucket[]>;
  latest(q: LatestQuery): Promise<Reading[]>;
  deadLetters(q: DeadLetterQuery): Promise<DeadLetter[]>;
  /** Deletes readings and dead letters older than `olderThan` (epoch ms); returns rows removed. */
  applyRetention(olderThan: number): Promise<number>;
  /** WAL markers already applied, so replay after a crash never stores a reading twice. */
  appliedWalMarkers(): Promise<WalMarker[]>;
  /** Whether the store currently accepts writes (readiness). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/** Identifies one committed WAL batch: segment file number and batch index within it. */
export interface WalMarker {
  segment: number;
  batch: number;
}
