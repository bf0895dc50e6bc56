// Worker entry for scenario runs: workers do not inherit the parent's tsx loader, so register it here.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
