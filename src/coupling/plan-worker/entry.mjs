// Worker entry for the off-thread storage planner: the worker runs the TypeScript sources through
// tsx like the CLI does (workers do not inherit an in-process loader registration).
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
