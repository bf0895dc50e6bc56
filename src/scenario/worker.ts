/** Worker side of a scenario run: parse, run, write the outputs, report progress. */
import { parentPort, workerData } from 'node:worker_threads';
import { parseScenario } from './load.ts';
import { writeRunOutputs } from './outputs.ts';
import { runScenario } from './run.ts';
import type { WorkerJob, WorkerMessage } from './runs.ts';

const job = workerData as WorkerJob;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

try {
  const scn = parseScenario(job.text, { baseDir: job.baseDir, allowedRoots: job.allowedRoots, source: job.source });
  let last = 0;
  const run = await runScenario(scn, {
    mode: job.mode,
    ...(job.rolling ? { rolling: job.rolling } : {}),
    onProgress: (progress) => {
      const now = Date.now();
      if (now - last < 200 && progress.phase !== 'done') return;
      last = now;
      post({ type: 'progress', progress });
    },
  });
  await writeRunOutputs(run, job.dir);
  post({ type: 'done' });
} catch (err) {
  post({ type: 'error', message: (err as Error).message });
}
