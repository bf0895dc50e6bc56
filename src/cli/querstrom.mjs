#!/usr/bin/env node
// The bin runs the TypeScript sources directly through tsx: no build step to forget.
import { setFlagsFromString } from 'node:v8';
import { register } from 'tsx/esm/api';

// A server's heap is mostly long-lived sessions: with V8's size-optimised heuristics the steady
// RSS at 10,000 devices drops from ~500 MB to ~310 MB at no measurable CPU cost (bench memory).
// Set before main.ts and the server's modules load; other subcommands keep V8's speed-first defaults.
if (process.argv[2] === 'serve') setFlagsFromString('--optimize-for-size');

register();
const { main } = await import('./main.ts');
await main(process.argv);
