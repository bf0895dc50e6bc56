/**
 * Scenario runs as a service: submitted per tenant, validated at once (so a bad file is a 400,
 * not a failed run), queued, executed one at a time in a worker thread (the event loop stays
 * free), with progress kept in memory and the run's state and outputs under
 * `{dataDir}/scenarios/{tenant}/{runId}/`. A run left `running` by a restart reads as failed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { parseScenario, projectRoot, ScenarioConfigError, sharedDataDir, shippedScenarioDir } from './load.ts';
import { runModes, type RunMode } from './schema.ts';
import type { ScenarioProgress } from './run.ts';

export const runStatusSchema = z
  .object({
    id: z.string(),
    scenario: z.string(),
    contentHash: z.string(),
    mode: z.enum(runModes),
    status: z.enum(['queued', 'running', 'done', 'failed']),
    progress: z.number().min(0).max(1),
    phase: z.string().optional(),
    year: z.number().optional(),
    etaS: z.number().optional(),
    createdAt: z.string(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    error: z.string().optional(),
    warnings: z.array(z.object({ path: z.string(), message: z.string() })),
  })
  .meta({ id: 'ScenarioRunStatus' });
export type RunStatus = z.infer<typeof runStatusSchema>;

export interface SubmitRequest {
  /** Scenario text (YAML or JSON); relative paths resolve against the shipped scenarios. */
  text: string;
  source: string;
  mode?: RunMode | undefined;
  rolling?: { windowH?: number | undefined; overlapH?: number | undefined } | undefined;
}

export interface WorkerJob {
  text: string;
  source: string;
  baseDir: string;
  allowedRoots: string[];
  mode: RunMode;
  rolling: { windowH?: number | undefined; overlapH?: number | undefined } | undefined;
  dir: string;
}

export type WorkerMessage = { type: 'progress'; progress: ScenarioProgress } | { type: 'done' } | { type: 'error'; message: string };

const RUN_ID = /^r[0-9a-z]{6,40}$/;
const TENANT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export class ScenarioRunManager {
  readonly root: string;
  readonly allowedRoots: string[];
  private readonly live = new Map<string, RunStatus>();
  private readonly queue: { tenant: string; id: string; job: WorkerJob }[] = [];
  private running: { worker: Worker; key: string } | undefined;
  private closed = false;
  private idle: (() => void)[] = [];

  constructor(opts: { dataDir: string; allowedRoots?: string[] }) {
    this.root = resolve(opts.dataDir, 'scenarios');
    this.allowedRoots = opts.allowedRoots ?? [resolve(projectRoot, 'config'), sharedDataDir];
  }

  private tenantDir(tenant: string): string {
    if (!TENANT.test(tenant) || tenant.includes('..')) throw new Error(`invalid tenant id "${tenant}"`);
    return join(this.root, tenant);
  }

  runDir(tenant: string, id: string): string | undefined {
    if (!RUN_ID.test(id)) return undefined;
    return join(this.tenantDir(tenant), id);
  }

  /** Validates (throws ScenarioConfigError) and queues a run. */
  async submit(tenant: string, req: SubmitRequest): Promise<RunStatus> {
    if (this.closed) throw new Error('the scenario service is shutting down');
    const scn = parseScenario(req.text, { baseDir: shippedScenarioDir, allowedRoots: this.allowedRoots, source: req.source });
    const mode = req.mode ?? scn.spec.run.mode;
    if (mode === 'rolling' && (scn.spec.units.some((u) => u.size) || scn.spec.storages.some((s) => s.size))) {
      throw new ScenarioConfigError(req.source, [{ path: 'mode', message: 'capacity sizing needs perfect foresight (perfect_foresight or both)' }]);
    }
    const id = `r${Date.now().toString(36)}${randomBytes(5).toString('hex')}`;
    const dir = this.runDir(tenant, id)!;
    await mkdir(dir, { recursive: true });
    const status: RunStatus = {
      id,
      scenario: scn.spec.name,
      contentHash: scn.hash,
      mode,
      status: 'queued',
      progress: 0,
      createdAt: new Date().toISOString(),
      warnings: scn.warnings,
    };
    await writeFile(join(dir, 'scenario.yaml'), req.text);
    await this.persist(tenant, status);
    this.live.set(`${tenant}/${id}`, status);
    const accepted = { ...status };
    this.queue.push({ tenant, id, job: { text: req.text, source: req.source, baseDir: shippedScenarioDir, allowedRoots: this.allowedRoots, mode, rolling: req.rolling, dir } });
    this.pump();
    return accepted;
  }

  private async persist(tenant: string, s: RunStatus): Promise<void> {
    const dir = this.runDir(tenant, s.id)!;
    const tmp = join(dir, 'status.json.tmp');
    await writeFile(tmp, JSON.stringify(s, null, 2) + '\n');
    await rename(tmp, join(dir, 'status.json'));
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const next = this.queue.shift();
    if (!next) {
      for (const f of this.idle.splice(0)) f();
      return;
    }
    const key = `${next.tenant}/${next.id}`;
    const status = this.live.get(key)!;
    status.status = 'running';
    status.startedAt = new Date().toISOString();
    void this.persist(next.tenant, status);
    const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: next.job });
    this.running = { worker, key };
    let settled = false;
    const finish = (ok: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      status.status = ok ? 'done' : 'failed';
      status.progress = ok ? 1 : status.progress;
      status.finishedAt = new Date().toISOString();
      delete status.etaS;
      if (error) status.error = error;
      this.running = undefined;
      void this.persist(next.tenant, status).finally(() => this.pump());
    };
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') {
        status.progress = Math.min(0.99, m.progress.fraction);
        status.phase = m.progress.phase;
        if (m.progress.year !== undefined) status.year = m.progress.year;
        if (m.progress.etaS !== undefined) status.etaS = Math.round(m.progress.etaS * 10) / 10;
      } else {
        finish(m.type === 'done', m.type === 'error' ? m.message : undefined);
        void worker.terminate();
      }
    });
    worker.on('error', (err) => finish(false, err.message));
    worker.on('exit', (code) => finish(false, code === 0 ? 'the run ended without a result' : `the run's worker exited with code ${code}`));
  }

  async get(tenant: string, id: string): Promise<RunStatus | undefined> {
    const live = this.live.get(`${tenant}/${id}`);
    if (live) return live;
    const dir = this.runDir(tenant, id);
    if (!dir || !existsSync(join(dir, 'status.json'))) return undefined;
    const parsed = runStatusSchema.safeParse(JSON.parse(await readFile(join(dir, 'status.json'), 'utf8')));
    if (!parsed.success) return undefined;
    const s = parsed.data;
    // Not live but queued or running on disk: this process did not start it, so a restart cut it off.
    if (s.status === 'queued' || s.status === 'running') return { ...s, status: 'failed', error: 'interrupted by a restart; submit it again' };
    return s;
  }

  async list(tenant: string): Promise<RunStatus[]> {
    let ids: string[] = [];
    try {
      ids = (await readdir(this.tenantDir(tenant))).filter((d) => RUN_ID.test(d));
    } catch {
      return [];
    }
    const out: RunStatus[] = [];
    for (const id of ids) {
      const s = await this.get(tenant, id);
      if (s) out.push(s);
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id.localeCompare(b.id)));
  }

  /** Resolves when nothing is queued or running (tests). */
  whenIdle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    const r = this.running;
    if (r) await r.worker.terminate();
  }
}
