/** Why a column's bound is where it is: written by the LP fill, read by the explanations. */
export const Limit = {
  None: 0,
  Capacity: 1,
  Availability: 2,
  Ramp: 3,
  MinOutput: 4,
  MustRun: 5,
  OutOfService: 6,
  StorageContent: 7,
  SourceAvailable: 8,
  TooCold: 9,
  Slack: 10,
  MustDispose: 11,
} as const;
export type Limit = (typeof Limit)[keyof typeof Limit];
export const limitNames = [
  'none',
  'capacity',
  'availability',
  'ramp',
  'min_output',
  'must_run',
  'out_of_service',
  'storage_content',
  'source_available',
  'too_cold_for_direct_use',
  'slack',
  'must_dispose',
] as const;
export type LimitName = (typeof limitNames)[number];
