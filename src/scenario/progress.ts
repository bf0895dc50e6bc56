/** A progress bar for scenario runs on a terminal (redrawn in place), or plain lines when not a terminal. */
import type { ScenarioProgress } from './run.ts';

export function formatProgress(p: ScenarioProgress, width = 24): string {
  const filled = Math.round(p.fraction * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const pct = `${Math.floor(p.fraction * 100)}%`.padStart(4);
  if (p.phase === 'done') return `${bar} ${pct}  done in ${p.elapsedS.toFixed(1)} s`;
  const phase = p.phase === 'perfect_foresight' ? 'perfect foresight' : 'rolling horizon';
  const years = `${p.year ?? ''} (${p.yearsDone}/${p.yearsTotal} years done)`;
  const windows = p.windowsTotal > 0 ? `  ${p.phase === 'perfect_foresight' ? 'chunks' : 'windows'} ${p.windowsDone}/${p.windowsTotal}` : '';
  const eta = p.etaS === undefined ? '' : `  ETA ${p.etaS < 60 ? `${p.etaS.toFixed(1)} s` : `${Math.floor(p.etaS / 60)} min ${Math.round(p.etaS % 60)} s`}`;
  return `${bar} ${pct}  ${phase} ${years}${windows}${eta}`;
}

export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): (p: ScenarioProgress) => void {
  const tty = stream.isTTY === true;
  let last = 0;
  let lastPhase = '';
  return (p) => {
    const now = Date.now();
    const changed = p.phase !== lastPhase;
    if (!changed && p.phase !== 'done' && now - last < (tty ? 100 : 2000)) return;
    last = now;
    lastPhase = p.phase;
    const line = formatProgress(p);
    if (tty) stream.write(`\r\x1b[2K${line}${p.phase === 'done' ? '\n' : ''}`);
    else stream.write(`${line}\n`);
  };
}
