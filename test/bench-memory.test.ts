/**
 * `querstrom bench memory` end to end at a small scale: the command (option parsing, human lines
 * on stderr, one JSON object on the last stdout line) around a real server process and a real
 * device swarm. The 400 MB target at 10,000 devices is the benchmark's job, not this test's.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('../', import.meta.url).pathname;
// The command as the CLI mounts it, without depending on main.ts having it wired yet.
const program = `
import { Command } from 'commander';
import { registerBenchMemory } from './src/cli/commands/bench-memory.ts';
const program = new Command('querstrom');
registerBenchMemory(program.command('bench'));
// With -e there is no script path: argv is [node, ...args].
const args = process.argv.slice(1);
await program.parseAsync(args[0] === '--' ? args.slice(1) : args, { from: 'user' });
`;

function querstromBenchMemory(args: string[], timeout: number) {
  return run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program, '--', 'bench', 'memory', ...args], { cwd: root, timeout, maxBuffer: 1 << 22 });
}

describe('bench memory', () => {
  it('300 devices publishing for 5 s: every field present and plausible, every acknowledged reading stored', async () => {
    const devices = 300;
    const rate = 1;
    const { stdout, stderr } = await querstromBenchMemory(['--devices', String(devices), '--rate', String(rate), '--duration', '5', '--connect-window', '1', '--json'], 100_000);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const r = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(stderr).toMatch(/registering 300 devices/);

    expect(r).toMatchObject({ bench: 'memory', devices, connected: devices, server_connected_clients: devices, births_acked: devices, connected_at_end: devices, lost: 0, unacked: 0, dead_letters: 0, target_rss_mb: 400 });
    // About rate × devices × duration messages, each acknowledged and stored exactly once.
    const sent = r.sent as number;
    expect(sent).toBeGreaterThan(0.8 * devices * rate * 5);
    expect(sent).toBeLessThanOrEqual(devices * (rate * 5 + 1));
    expect(r.acked).toBe(sent);
    expect(r.stored).toBe(sent);
    expect(r.rate_msgs_per_s as number).toBeGreaterThan(0.8 * devices * rate);

    // Memory of the server process: a Node process with DuckDB is well above 30 MB and, at this
    // scale, far below 2 GB; the peak is a high-water mark, so never below the median.
    for (const key of ['rss_mb_idle', 'rss_mb_connected', 'rss_mb_steady', 'rss_mb_peak'] as const) {
      expect(r[key], key).toBeGreaterThan(30);
      expect(r[key], key).toBeLessThan(2048);
    }
    expect(r.rss_mb_peak as number).toBeGreaterThanOrEqual(r.rss_mb_steady as number);
    expect(r.rss_samples_steady as number).toBeGreaterThan(2);
    expect(r.meets_target).toBe((r.rss_mb_steady as number) <= 400);
    expect(r.heap_used_mb as number).toBeGreaterThan(5);
    expect(r.heap_used_mb as number).toBeLessThanOrEqual(r.heap_total_mb as number);
    expect(r.heap_total_mb as number).toBeLessThan(r.rss_mb_peak as number);

    // CPU: the server did work in the steady phase, and the per-million figure is that work scaled.
    const cpu = r.server_cpu_s as number;
    expect(cpu).toBeGreaterThan(0);
    expect(r.server_cpu_s_total as number).toBeGreaterThanOrEqual(cpu);
    expect(r.cpu_s_per_million_readings as number).toBeCloseTo((cpu / sent) * 1e6, -1);
    expect(r.connect_all_s as number).toBeGreaterThan(0);
    expect(r.connect_all_s as number).toBeLessThan(60);
  }, 110_000);

  it('bad options: a clear error and exit code 1', async () => {
    const err = await querstromBenchMemory(['--devices', '0'], 30_000).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 1 });
    expect((err as { stderr: string }).stderr).toMatch(/--devices must be a whole number >= 1, got "0"/);
    const rate = await querstromBenchMemory(['--rate', 'fast'], 30_000).catch((e: { code: number; stderr: string }) => e);
    expect((rate as { stderr: string }).stderr).toMatch(/--rate must be a number > 0/);
  }, 60_000);
});
