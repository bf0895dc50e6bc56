/** Code version for run records: the package version and, when the sources are a git checkout, the commit. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './load.ts';

let cached: string | undefined;

function gitCommit(): string | undefined {
  try {
    const gitDir = join(projectRoot, '.git');
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return head.slice(0, 12);
    const ref = head.slice(5);
    try {
      return readFileSync(join(gitDir, ref), 'utf8').trim().slice(0, 12);
    } catch {
      const packed = readFileSync(join(gitDir, 'packed-refs'), 'utf8');
      const line = packed.split('\n').find((l) => l.endsWith(` ${ref}`));
      return line?.slice(0, 12);
    }
  } catch {
    return undefined;
  }
}

export function codeVersion(): string {
  if (cached) return cached;
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // keep 'unknown'
  }
  const commit = gitCommit();
  cached = `querstrom ${version}${commit ? ` (git ${commit})` : ''}`;
  return cached;
}
