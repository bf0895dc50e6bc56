export * from './topics.ts';
export * from './units.ts';
export * from './payloads.ts';
