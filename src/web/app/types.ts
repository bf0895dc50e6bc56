/**
 * Shapes the dashboard reads, taken from the server's own zod schemas (type-only imports:
 * nothing of the server ends up in the bundle).
 */
import type { z } from 'zod';
import type { deadLetterSchema, deviceListSchema, deviceSchema, readingSchema, bucketSchema } from '../../api/schemas.ts';

export type { DispatchResult, Setpoint, UnitExplanation, DispatchAlarm, DispatchKpis } from '../../coupling/result.ts';
export type Device = z.output<typeof deviceSchema>;
export type DeviceList = z.output<typeof deviceListSchema>;
export type DeadLetter = z.output<typeof deadLetterSchema>;
export type Reading = z.output<typeof readingSchema>;
export type Bucket = z.output<typeof bucketSchema>;
